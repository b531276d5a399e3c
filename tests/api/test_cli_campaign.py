"""`server.py campaign ...` drives the real HTTP API: create, import with progress bar, start, status."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from api_harness import reactor
from api_stack import TOKEN, ApiStack
from campaign_fakes import run_for

from server import build_parser


def cli(stack: ApiStack, *argv: str, token: str = TOKEN) -> tuple[int, str, str]:
    """Run one CLI command in a thread while the test iterates the reactor that serves it."""
    args = build_parser().parse_args(["campaign", "--url", stack.http.base, "--token", token, *argv])
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(code=args.run(args, out, err)))
    thread.start()
    while thread.is_alive():
        reactor.iterate(0.005)
    return result["code"], out.getvalue(), err.getvalue()


def test_cli_runs_a_campaign_end_to_end(api_stack: ApiStack, tmp_path: Path) -> None:
    """create -> import (progress bar, bad line reported) -> start -> status shows the finished calls."""
    code, out, _ = cli(api_stack, "create", "cli campaign", "--max-concurrent-calls", "3")
    assert code == 0
    cid = out.strip()
    rows = ["id,name,phone,amount_due,overdue_days,due_date,product,creditor,risk_score"]
    rows += [f"C{i:04d},王芳,1390013{i:04d},1500,5,2026-11-20,信用贷,示例消费金融,700" for i in range(400)]
    rows.append("C9999,王芳,not-a-phone,1500,5,2026-11-20,信用贷,示例消费金融,700")
    file = tmp_path / "borrowers.csv"
    file.write_text("\n".join(rows), encoding="gbk")
    code, out, err = cli(api_stack, "import", cid, str(file))
    assert code == 4, err  # rows were rejected
    assert "rows 401: 400 new" in out and "line 402: phone:" in out and "1 row(s) rejected" in err
    assert "upload [" in err and "100%" in err
    assert cli(api_stack, "start", cid)[1].strip() == f"{cid}: running"
    run_for(api_stack.clock, 30)
    code, out, _ = cli(api_stack, "status", cid)
    lines = {line.split("  ")[0]: line.split()[-1] for line in out.splitlines() if line.strip()}
    assert code == 0 and lines["state"] == "running" and lines["calls in flight"] == "3"


def test_cli_reports_http_errors(api_stack: ApiStack) -> None:
    """A wrong token and an impossible state change exit non-zero with the server's reason."""
    code, _, err = cli(api_stack, "list", token="wrong-token-wrong-token")
    assert code == 1 and "401" in err
    cid = cli(api_stack, "create", "x")[1].strip()
    code, _, err = cli(api_stack, "resume", cid)
    assert code == 1 and "cannot resume a campaign that is draft" in err


def test_status_json_and_options_after_the_action(api_stack: ApiStack, tmp_path: Path) -> None:
    """`status ID --json --token T --url U` parses (options after the action) and prints the progress JSON."""
    import json

    from server import build_parser

    cid = cli(api_stack, "create", "after")[1].strip()
    args = build_parser().parse_args(["campaign", "status", cid, "--json", "--url", api_stack.http.base,
                                      "--token", TOKEN])
    assert (args.url, args.token, args.json) == (api_stack.http.base, TOKEN, True)
    before = build_parser().parse_args(["campaign", "--token", TOKEN, "status", cid])
    assert before.token == TOKEN  # not overwritten by the sub-command's default
    code, out, _ = cli(api_stack, "status", cid, "--json")
    body = json.loads(out)
    assert code == 0 and body["campaign"]["id"] == cid and body["borrowers"] == 0


def test_clean_import_exits_zero(api_stack: ApiStack, tmp_path: Path) -> None:
    """An import without rejected rows exits 0 (the non-zero exit is only for rejected rows)."""
    cid = cli(api_stack, "create", "clean")[1].strip()
    file = tmp_path / "ok.csv"
    file.write_text("id,name,phone,amount_due,overdue_days,due_date,product,creditor,risk_score\n"
                    "C1,王芳,13900130001,1500,5,2026-11-20,信用贷,示例消费金融,700\n", encoding="utf-8")
    code, out, err = cli(api_stack, "import", cid, str(file), "--token", TOKEN)
    assert code == 0 and "1 new" in out, err

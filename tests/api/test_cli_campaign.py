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
    assert code == 0, err
    assert "rows 401: 400 new" in out and "line 402: phone:" in out
    assert "upload [" in err and "100%" in err
    assert cli(api_stack, "start", cid)[1].strip() == f"{cid}: running"
    run_for(api_stack.clock, 30)
    code, out, _ = cli(api_stack, "status", cid)
    assert code == 0 and "running" in out and "in flight 3" in out


def test_cli_reports_http_errors(api_stack: ApiStack) -> None:
    """A wrong token and an impossible state change exit non-zero with the server's reason."""
    code, _, err = cli(api_stack, "list", token="wrong-token-wrong-token")
    assert code == 1 and "401" in err
    cid = cli(api_stack, "create", "x")[1].strip()
    code, _, err = cli(api_stack, "resume", cid)
    assert code == 1 and "cannot resume a campaign that is draft" in err

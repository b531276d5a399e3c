"""`server.py allocate` over a cases file and over a store: the issue's formats, bad lines reported, history counted."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from campaign_fakes import borrower_row, run_for
from campaign_stack import StackFactory

from campaign.allocation_history import history_of
from server import build_parser

CASES = [
    {"id": "C1", "amount_due": 3000, "risk_score": 500, "due_date": "2026-11-20", "history": {"open_dispute": True}},
    {"id": "C2", "amount_due": 3000, "risk_score": 500, "due_date": "2026-08-01",
     "history": {"refusals_confirmed": 2}},
    {"id": "C3", "amount_due": 60000, "risk_score": 700, "value_tier": "high", "overdue_days": 12},
    {"id": "C4", "amount_due": 600, "risk_score": 700, "due_date": "2026-11-25", "history": {"opted_out_all": True}},
    {"id": "C5", "amount_due": 600, "risk_score": 700, "due_date": "2026-11-25"},
]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    args = build_parser().parse_args(["allocate", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.run(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def write_cases(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_json_output_is_one_line_per_case_in_the_issue_format(tmp_path: Path) -> None:
    """--json prints exactly borrower_id, channel, queue, step, rule per case, in input order."""
    path = write_cases(tmp_path, [json.dumps(c) for c in CASES])
    code, out, err = run_cli(["--cases", str(path), "--today", "2026-12-02", "--json"])
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == [
        {"borrower_id": "C1", "channel": "agent", "queue": "complaints", "step": None, "rule": "review_open"},
        {"borrower_id": "C2", "channel": "legal", "queue": None, "step": "mediation", "rule": "legal_mediation"},
        {"borrower_id": "C3", "channel": "agent", "queue": "senior", "step": None, "rule": "senior_agent"},
        {"borrower_id": "C4", "channel": "hold", "queue": None, "step": None, "rule": "C7"},
        {"borrower_id": "C5", "channel": "bot", "queue": None, "step": None, "rule": "bot_by_segment"},
    ]


def test_bad_lines_are_reported_by_line_and_field_and_the_run_goes_on(tmp_path: Path) -> None:
    """A bad field and a non-JSON line are named on stderr; the good cases are still allocated; exit 1."""
    lines = [json.dumps(CASES[0]), json.dumps({**CASES[1], "amount_due": "abc"}), "{oops", "",
             json.dumps({**CASES[4], "history": {"broken_promises": "two"}}), json.dumps(CASES[4])]
    code, out, err = run_cli(["--cases", str(write_cases(tmp_path, lines)), "--today", "2026-12-02"])
    assert code == 1
    assert err.splitlines()[0] == "line 2: amount_due: expected a number, got 'abc'"
    assert err.splitlines()[1].startswith("line 3: (line): not JSON")
    assert err.splitlines()[2].startswith("line 5: history.broken_promises: expected a count")
    assert "total 2: bot 1, agent 1, legal 0, hold 0" in out
    assert "C1 " in out and "complaints" in out


def test_today_moves_the_legal_boundary(tmp_path: Path) -> None:
    """Days past due are --today minus due_date: 89 days stays with the bot, the next day goes to legal."""
    case = {"id": "D1", "amount_due": 100, "risk_score": 500, "due_date": "2026-09-01",
            "history": {"broken_promises": 2}}
    path = write_cases(tmp_path, [json.dumps(case)])
    _, before, _ = run_cli(["--cases", str(path), "--today", "2026-11-29", "--json"])
    _, after, _ = run_cli(["--cases", str(path), "--today", "2026-11-30", "--json"])
    assert json.loads(before)["channel"] == "bot" and json.loads(after)["channel"] == "legal"


def _talk(stack_factory: StackFactory, outcomes: dict[str, dict[str, Any]]) -> Any:
    s = stack_factory()
    s.runner.outcome = lambda b: dict(outcomes[b.id])
    c = s.service.create_campaign("A")
    s.service.import_records(c.id, [borrower_row(i + 1) for i in range(len(outcomes))])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 300)
    return s


def test_store_history_is_counted_from_the_records(stack_factory: StackFactory) -> None:
    """--store: a complaint -> complaints queue, opt-out on the only number -> hold C7, hardship -> senior,
    a confirmed refusal counted, the rest -> bot; nothing is written by the command."""
    s = _talk(stack_factory, {
        "B001": {"disposition": "complaint", "complaint": True},
        "B002": {"disposition": "opt_out", "opt_out": True},
        "B003": {"disposition": "hardship"},
        "B004": {"disposition": "refused", "identity_confirmed": True},
        "B005": {"disposition": "refused", "identity_confirmed": False},
    })
    assert len(s.placer.dials) == 5
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Asia/Shanghai")
    assert history_of(s.store.connection, "B004", zone).refusals_confirmed == 1
    assert history_of(s.store.connection, "B005", zone).refusals_confirmed == 0
    assert history_of(s.store.connection, "B004", zone).last_reached is not None
    before = s.store.connection.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    code, out, err = run_cli(["--store", str(s.store.path), "--today", "2026-11-30", "--json"])
    assert (code, err) == (0, "")
    got = {r["borrower_id"]: (r["channel"], r["rule"]) for r in map(json.loads, out.splitlines())}
    assert got == {"B001": ("agent", "review_open"), "B002": ("hold", "C7"), "B003": ("agent", "senior_agent"),
                   "B004": ("bot", "bot_by_segment"), "B005": ("bot", "bot_by_segment")}
    assert s.store.connection.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    """A store path that does not exist is refused (exit 2) instead of creating an empty store."""
    code, _, err = run_cli(["--store", str(tmp_path / "none.sqlite3")])
    assert code == 2 and "no store at" in err and not (tmp_path / "none.sqlite3").exists()

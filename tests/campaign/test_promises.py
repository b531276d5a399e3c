"""Promise lifecycle: payments feed, reconciliation (kept / partly kept / broken / superseded), follow-ups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import Stack, StackFactory, both_engines

PROMISE = {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 1500.0}

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL


def _promised(s: Stack, *outcomes: dict[str, Any], strategy: str | None = None) -> str:
    """B001 (3200 due) is called once per outcome given; returns the campaign id."""
    said = list(outcomes)
    s.runner.outcome = lambda b: said.pop(0) if said else {"disposition": "refused"}
    c = s.service.create_campaign("P", strategy=strategy)
    s.service.import_records(c.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    return c.id


def _pay(s: Stack, *rows: dict[str, Any]) -> dict[str, Any]:
    lines = "\n".join(json.dumps(r) for r in rows).encode()
    return s.ledger.import_bytes("pay.jsonl", lines).to_dict()


def _to(s: Stack, day: int, hour: int, minute: int = 0) -> None:
    s.clock.advance(at_local(2026, 12, day, hour, minute) - s.clock.seconds())


def _states(s: Stack) -> list[str]:
    return [r["state"] for r in s.store.connection.execute("SELECT state FROM promises ORDER BY created_at")]


def test_payment_in_full_by_the_date_marks_the_promise_kept(stack_factory: StackFactory) -> None:
    """1500 promised for 12-02, 1500 paid on 12-02: kept at import; the rest of the debt is still collected."""
    s = stack_factory()
    c = _promised(s, PROMISE)
    _to(s, 1, 7)  # before the reminder
    report = _pay(s, {"borrower_id": "B001", "amount": 1500, "paid_at": "2026-12-01T06:00", "reference": "R1"})
    assert report["inserted"] == 1 and len(report["reconciled"]["kept"]) == 1
    assert _states(s) == ["kept"]
    b = s.store.get_borrower(c, "B001")
    assert (b.status, b.next_reason) == ("active", "retry")  # 1700 still due


def test_kept_in_full_stops_calls_for_the_debt_in_every_campaign(stack_factory: StackFactory) -> None:
    """A promise of the whole 3200, paid: the borrower is stopped and another campaign refuses PROMISE_KEPT."""
    s = stack_factory()
    c = _promised(s, {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": None})
    assert s.store.connection.execute("SELECT amount FROM promises").fetchone()[0] == 3200.0  # no amount: all due
    _to(s, 1, 7)
    _pay(s, {"borrower_id": "B001", "amount": "3200.00", "paid_at": "2026-12-01", "reference": "R1"})
    assert _states(s) == ["kept"]
    assert s.store.get_borrower(c, "B001").stop_reason == "promise_kept"
    other = s.service.create_campaign("Q")
    s.service.import_records(other.id, [borrower_row(1)])
    refusal = s.service.call_now(other.id, "B001")
    assert getattr(refusal, "rule", None) == "PROMISE_KEPT"


def test_part_payment_is_partly_kept_after_the_grace_day(stack_factory: StackFactory) -> None:
    """500 of 1500 paid: still pending until the end of 12-03 (grace 1 day), then partly_kept with one follow-up."""
    s = stack_factory()
    c = _promised(s, PROMISE)
    _to(s, 2, 22)
    _pay(s, {"borrower_id": "B001", "amount": 500, "paid_at": "2026-12-02T09:00", "reference": "R1"})
    assert _states(s) == ["pending"]
    s.clock.advance(at_local(2026, 12, 3, 23, 59) - s.clock.seconds())
    assert s.ledger.reconcile().partly_kept == ()
    s.clock.advance(at_local(2026, 12, 4, 0, 1) - s.clock.seconds())
    report = s.ledger.reconcile()
    assert len(report.partly_kept) == 1 and report.follow_ups == report.partly_kept
    assert s.store.get_borrower(c, "B001").next_reason == "broken_promise"
    row = s.store.connection.execute("SELECT paid_amount FROM promises").fetchone()
    assert row[0] == 500.0


def test_broken_promise_gets_exactly_one_follow_up_call_inside_the_window(stack_factory: StackFactory) -> None:
    """No payment: the daily run marks it broken and one broken_promise call leaves at 08:30, not before, once."""
    s = stack_factory()
    c = _promised(s, PROMISE)
    s.ledger.start()
    try:
        s.clock.advance(at_local(2026, 12, 1, 8, 30) - s.clock.seconds())  # the reminder
        run_for(s.clock, 60)
        s.clock.advance(at_local(2026, 12, 4, 0, 0) - s.clock.seconds() + 1)
        run_for(s.clock, 3600 * 2, step=30)  # hourly reconciliation runs; 00:00-02:00 is outside the window
        assert _states(s) == ["broken"]
        reasons = [a["reason"] for a in s.store.attempts(c)]
        assert reasons == ["scheduled", "ptp_reminder"]
        assert {r["rule"] for r in s.store.refusals(c)} == {"C1"}
        s.clock.advance(at_local(2026, 12, 4, 8, 29) - s.clock.seconds())
        run_for(s.clock, 3 * 3600, step=10)
        reasons = [a["reason"] for a in s.store.attempts(c)]
        assert reasons.count("broken_promise") == 1
        follow = next(a for a in s.store.attempts(c) if a["reason"] == "broken_promise")
        assert at_local(2026, 12, 4, 8, 30) <= follow["started_at"] < at_local(2026, 12, 4, 8, 31)
        assert s.store.connection.execute("SELECT follow_up FROM promises").fetchone()[0] == "done"
        # the follow-up speaks the strategy's broken-promise script set; the others the segment's own
        assert s.runner.script_sets[-1] == "promise_followup" and "promise_followup" not in s.runner.script_sets[:-1]
    finally:
        s.ledger.stop()


def test_a_new_promise_supersedes_the_pending_one_and_takes_the_payments(stack_factory: StackFactory) -> None:
    """A second, different promise supersedes the first; a payment settles only the new one."""
    s = stack_factory()
    c = _promised(s, PROMISE)
    s.runner.outcome = lambda b: {"disposition": "promise_to_pay", "ptp_date": "2026-12-05", "ptp_amount": 800.0}
    s.clock.advance(at_local(2026, 12, 1, 8, 30) - s.clock.seconds())
    run_for(s.clock, 60)
    assert _states(s) == ["superseded", "pending"]
    _to(s, 4, 11)
    _pay(s, {"borrower_id": "B001", "amount": 800, "paid_at": "2026-12-04T10:00", "reference": "R9"})
    assert _states(s) == ["superseded", "kept"]
    assert s.service.progress(c).to_dict()["promises"] == 1
    assert s.service.progress(c).to_dict()["promised_amount"] == 800.0


def test_duplicate_payment_reference_is_idempotent_and_a_conflict_is_a_row_error(stack_factory: StackFactory) -> None:
    """The same payment twice changes nothing; the same reference with another amount is refused for that row."""
    s = stack_factory()
    _promised(s, PROMISE)
    _to(s, 2, 11)
    pay = {"borrower_id": "B001", "amount": 700, "paid_at": "2026-12-02T10:00", "reference": "R1"}
    assert _pay(s, pay)["inserted"] == 1
    again = _pay(s, pay, {**pay, "amount": 900})
    assert (again["inserted"], again["unchanged"]) == (0, 1)
    assert again["errors"] == [{"line": 2, "reason": "reference: 'R1' already stored with other values"}]
    assert s.store.connection.execute("SELECT SUM(amount) FROM payments").fetchone()[0] == 700.0
    assert _states(s) == ["pending"]


def test_payment_for_an_unknown_borrower_is_a_row_error_and_changes_nothing(stack_factory: StackFactory) -> None:
    """Unknown borrower id and malformed rows are listed with every problem; nothing is stored."""
    s = stack_factory()
    _promised(s, PROMISE)
    report = _pay(s, {"borrower_id": "NOPE", "amount": 1500, "paid_at": "2026-11-30", "reference": "R1"},
                  {"borrower_id": "B001", "amount": -3, "paid_at": "yesterday", "reference": ""})
    assert report["inserted"] == 0
    unknown = "borrower_id: unknown borrower 'NOPE' (import the borrower first)"
    assert report["errors"][0] == {"line": 1, "reason": unknown}
    reason = report["errors"][1]["reason"]
    assert reason.startswith("reference: missing") and "amount:" in reason and "paid_at:" in reason
    assert s.store.connection.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0
    assert _states(s) == ["pending"]


def test_csv_payments_feed_is_read_like_the_borrower_import(stack_factory: StackFactory) -> None:
    """A CSV feed with a header row imports and reconciles the same way as JSON lines."""
    s = stack_factory()
    _promised(s, PROMISE)
    _to(s, 2, 11)
    data = b"borrower_id,amount,paid_at,reference\nB001,1500,2026-12-02T10:00:00+08:00,R1\n"
    report = s.ledger.import_bytes("feed.csv", data)
    assert (report.inserted, report.errors) == (1, ())
    assert _states(s) == ["kept"]


def test_unverified_paid_claim_resumes_the_borrower_after_verify_days(stack_factory: StackFactory) -> None:
    """"Already paid" with no payment within verify_days (3) resumes calls; with one it stays stopped."""
    s = stack_factory()
    c = _promised(s, {"disposition": "already_paid", "verified": False})
    assert s.store.get_borrower(c, "B001").status == "stopped"
    s.clock.advance(2 * 86400)
    assert s.ledger.reconcile().claims_resumed == ()
    s.clock.advance(86400 + 1)
    assert s.ledger.reconcile().claims_resumed == ("B001",)
    b = s.store.get_borrower(c, "B001")
    assert (b.status, b.next_reason) == ("active", "paid_claim_unverified")

    s2 = stack_factory()
    c2 = _promised(s2, {"disposition": "already_paid", "verified": False})
    _pay(s2, {"borrower_id": "B001", "amount": 3200, "paid_at": "2026-11-29", "reference": "X"})
    s2.clock.advance(4 * 86400)
    assert s2.ledger.reconcile().claims_resumed == ()
    assert s2.store.get_borrower(c2, "B001").status == "stopped"


def test_every_promise_follow_up_script_set_exists_in_the_library() -> None:
    """strategies.toml names only script sets the library has; an unknown one is reported with its key."""
    import dataclasses

    from config.campaign_config import load_strategies, unknown_script_sets
    from dialogue.scripts import load_script_library

    book = load_strategies()
    sets = load_script_library().script_sets
    assert unknown_script_sets(book, sets) == []
    broken = dataclasses.replace(book.strategies["standard"], ptp_reminder_script_set="nope")
    bad = dataclasses.replace(book, strategies={**book.strategies, "standard": broken})
    assert unknown_script_sets(bad, sets) == [f"{book.source}: strategies.standard.ptp_reminder_script_set: "
                                              "unknown script set 'nope'"]


def test_broken_promise_of_a_finished_campaign_gets_no_call_and_frees_the_borrower(stack_factory: StackFactory) -> None:
    """The holder was stopped: no broken_promise call is owed, so another campaign may call after the decision."""
    s = stack_factory()
    c = _promised(s, PROMISE)
    s.service.stop(c)
    _to(s, 4, 9)
    report = s.ledger.reconcile()
    assert len(report.broken) == 1 and report.follow_ups == ()
    other = s.service.create_campaign("Q")
    s.service.import_records(other.id, [borrower_row(1)])
    s.service.start(other.id)
    run_for(s.clock, 60)
    assert [a["reason"] for a in s.store.attempts(other.id)] == ["scheduled"]


def test_an_old_store_is_upgraded_to_schema_3_in_place(tmp_path: Path) -> None:
    """A database made by migrations 1-2 gets the new tables on open; stored promises become promise rows."""
    import sqlite3

    from campaign.migrations import MIGRATIONS
    from campaign.store import SqliteStore

    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for migration in MIGRATIONS[:2]:
        for statement in migration.statements("sqlite"):
            con.execute(statement)
        con.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
    con.execute("INSERT INTO opt_outs (phone, reason, created_at) VALUES ('+8613800000000', 'asked', 1)")
    con.execute("INSERT INTO campaigns (id, name, state, timezone, max_concurrent_calls, calls_per_second,"
                " created_at) VALUES ('c1', 'old', 'running', 'Asia/Shanghai', 1, 1, 0)")
    con.execute("INSERT INTO borrowers (campaign_id, borrower_id, data, status, imported_at) VALUES"
                " ('c1', 'B001', '{\"amount_due\": 3200}', 'active', 0)")
    con.execute("INSERT INTO borrowers (campaign_id, borrower_id, data, status, stop_reason, imported_at) VALUES"
                " ('c1', 'B002', '{}', 'review', 'complaint', 0)")
    con.execute("INSERT INTO contacts (campaign_id, borrower_id, phone, rank, valid) VALUES"
                " ('c1', 'B001', '+8613900000009', 1, 0)")
    for call, at, date, amount in (("k1", 100.0, "2026-11-01", 500.0), ("k2", 200.0, None, None)):
        con.execute("INSERT INTO outcomes (call_id, campaign_id, borrower_id, disposition, ptp_date, ptp_amount,"
                    " data, created_at) VALUES (?, 'c1', 'B001', 'promise_to_pay', ?, ?, '{}', ?)",
                    (call, date, amount, at))
    con.commit()
    con.close()
    store = SqliteStore(db)
    try:
        assert store.schema_version == MIGRATIONS[-1].version  # 3, or later when newer migrations land
        assert store.is_opted_out("+8613800000000")
        (pending,) = store.active_promises("B001")  # the older promise is superseded by the later one
        assert (pending.call_id, pending.amount, pending.promised_date.isoformat()) == ("k2", 3200.0, "1970-01-08")
        rows = store.connection.execute("SELECT call_id, state FROM promises ORDER BY created_at").fetchall()
        assert [tuple(r) for r in rows] == [("k1", "superseded"), ("k2", "pending")]
        assert store.progress("c1")["promises"] == 1
        assert [f.kind for f in store.open_facts("B002")] == ["complaint"]  # still blocks other campaigns
        assert [(f.kind, f.phone) for f in store.open_facts("B001")] == [("wrong_number", "+8613900000009")]
    finally:
        store.close()


def test_summary_counts_kept_rate_by_segment_and_the_script_set_that_captured_the_promise(
    stack_factory: StackFactory,
) -> None:
    """Two promises, one kept and one broken: captured 2, kept rate 0.5, grouped under the call's script set."""
    s = stack_factory()
    said = {"B001": dict(PROMISE), "B002": dict(PROMISE)}
    s.runner.outcome = lambda b: said.pop(b.id, {"disposition": "refused"})
    c = s.service.create_campaign("S")
    s.service.import_records(c.id, [borrower_row(1), borrower_row(2)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    _to(s, 3, 12)
    _pay(s, {"borrower_id": "B001", "amount": 1500, "paid_at": "2026-12-02T10:00", "reference": "R1"})
    _to(s, 4, 1)
    s.ledger.reconcile()
    summary = s.ledger.summary(c.id)
    assert (summary["total"]["captured"], summary["total"]["kept"], summary["total"]["broken"]) == (2, 1, 1)
    assert summary["total"]["kept_rate"] == 0.5
    (group,) = summary["by_segment_and_script_set"]
    assert group["script_set"] and group["script_set"] == s.runner.script_sets[0]
    assert group["segment"] == s.store.get_borrower(c.id, "B001").segment

"""Allocation in the store (migration 4): moves with an audit trail, and no campaign dials a case moved off the bot."""

from __future__ import annotations

import logging

import pytest
from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import Stack, StackFactory, both_engines

from campaign.allocation_store import RULE_ALLOCATED_AWAY, AllocationRun
from config.allocation_config import load_allocation
from dialogue.segments import load_segments
from telemetry.logging import masked_fields

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL


def _run(s: Stack) -> AllocationRun:
    return AllocationRun(s.store, load_allocation(), load_segments(), s.clock, "Asia/Shanghai")


def _broken_promises(s: Stack, borrower_id: str, campaign_id: str, n: int) -> None:
    """Promise rows the ledger decided broken (as `PromiseLedger.reconcile` leaves them)."""
    with s.store.transaction() as db:
        for i in range(n):
            db.execute("INSERT INTO promises (id, borrower_id, campaign_id, call_id, promised_date, amount, confirmed,"
                       " state, created_at, updated_at) VALUES (?,?,?,?,?,?,1,'broken',0,0)",
                       (f"ptp-{borrower_id}-{i}", borrower_id, campaign_id, None, "2026-10-01", 100.0))


def test_a_case_moved_to_legal_or_agent_is_never_dialled_by_a_running_campaign(
    stack_factory: StackFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    """Legal (120 days, 2 broken promises) and senior-agent (60,000) cases get ALLOCATED_AWAY refusals, stored
    and logged, in the running campaign and in a second one; the bot case is dialled."""
    s = stack_factory()
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [
        borrower_row(1, due_date="2026-08-01", overdue_days=121), borrower_row(2, amount_due=60000.0),
        borrower_row(3)])
    _broken_promises(s, "B001", a.id, 2)
    run = _run(s)
    report = run.run("test")
    assert report["counts"] == {"bot": 1, "agent": 1, "legal": 1, "hold": 0}
    with caplog.at_level(logging.INFO):
        s.scheduler.start()
        s.service.start(a.id)
        run_for(s.clock, 300)
    assert len(s.placer.dials) == 1 and s.runner.runs == ["B003"]
    refused = {(r["borrower_id"], r["rule"]) for r in s.store.refusals(a.id)}
    assert refused == {("B001", RULE_ALLOCATED_AWAY), ("B002", RULE_ALLOCATED_AWAY)}
    logged = {masked_fields(r).get("borrower") for r in caplog.records
              if r.getMessage() == "campaign.refused" and masked_fields(r).get("rule") == RULE_ALLOCATED_AWAY}
    assert logged == {"B001", "B002"}
    assert s.store.get_borrower(a.id, "B001").status == "active"  # looked at again after the next daily run
    b = s.service.create_campaign("B")
    s.service.import_records(b.id, [borrower_row(1, due_date="2026-08-01", overdue_days=121)])
    s.service.start(b.id)
    run_for(s.clock, 120)
    assert s.runner.runs == ["B003"]
    assert [r["rule"] for r in s.store.refusals(b.id)] == [RULE_ALLOCATED_AWAY]


def test_moves_keep_time_rule_and_previous_channel(stack_factory: StackFactory) -> None:
    """First run stores every case (previous None); a rerun with nothing new moves nothing; a case whose history
    changes moves with its previous channel; each run is an audit-log entry; overview shows today's moves."""
    s = stack_factory()
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [borrower_row(1, due_date="2026-08-01", overdue_days=121)])
    run = _run(s)
    first = run.run("test")
    assert [(m["channel"], m["previous_channel"], m["rule"]) for m in first["moves"]] == [
        ("bot", None, "bot_by_segment")]
    assert run.run("test")["moves"] == []
    _broken_promises(s, "B001", a.id, 2)
    s.clock.advance(3600)
    moved = run.run("token:abcd…")["moves"]
    assert [(m["channel"], m["previous_channel"], m["step"], m["rule"], m["actor"]) for m in moved] == [
        ("legal", "bot", "mediation", "legal_mediation", "token:abcd…")]
    assert moved[0]["at"] == s.clock.seconds()
    assert s.store.allocated_channel("B001") == ("legal", "legal_mediation")
    overview = run.overview()
    assert overview["counts"]["legal"] == 1 and len(overview["moves"]) == 2
    audits = [e for e in s.store.audit_log() if e["action"] == "allocate"]
    assert len(audits) == 3


def test_the_daily_run_ticks_on_the_injected_clock(stack_factory: StackFactory) -> None:
    """start() allocates at once and again every 24 h of the injected clock; stop() ends it."""
    s = stack_factory(start=at_local(2026, 11, 30, 3, 0))
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [borrower_row(1)])
    run = _run(s)
    run.start()
    runs = lambda: len([e for e in s.store.audit_log() if e["action"] == "allocate"])  # noqa: E731
    assert runs() == 1
    s.clock.advance(86399)
    assert runs() == 1
    s.clock.advance(1)
    assert runs() == 2
    run.stop()
    s.clock.advance(86400)
    assert runs() == 2


def test_an_import_allocates_new_borrowers_before_any_dial(stack_factory: StackFactory) -> None:
    """Hardship told in campaign A is no borrower fact; with the import hook, campaign B's import sends B001 to the
    senior queue at once, so B never dials it (ALLOCATED_AWAY), while a new borrower B002 is dialled."""
    s = stack_factory()
    run = _run(s)
    s.service.after_import.append(run.after_import)
    s.runner.outcome = lambda b: {"disposition": "hardship"} if b.id == "B001" else {"disposition": "refused"}
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(a.id)
    run_for(s.clock, 60)
    assert s.runner.runs == ["B001"]
    b = s.service.create_campaign("B")
    s.service.import_records(b.id, [borrower_row(1), borrower_row(2)], actor="ops")
    assert s.store.allocated_channel("B001") == ("agent", "senior_agent")
    s.service.start(b.id)
    run_for(s.clock, 120)
    assert s.runner.runs == ["B001", "B002"]
    assert [(r["borrower_id"], r["rule"]) for r in s.store.refusals(b.id)] == [("B001", RULE_ALLOCATED_AWAY)]
    actors = [e["actor"] for e in s.store.audit_log() if e["action"] == "allocate"]
    assert actors == ["import:api", "import:ops"]

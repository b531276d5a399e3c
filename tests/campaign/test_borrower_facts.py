"""Borrower facts hold across campaigns: the same list in a second campaign honours what was said in the first."""

from __future__ import annotations

from typing import Any

from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import Stack, StackFactory, both_engines

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL


def _two_campaigns(s: Stack, outcome: dict[str, Any]) -> tuple[str, str]:
    """Campaign A talks to B001 once (ending with `outcome`); campaign B with the same list starts after."""
    s.runner.outcome = lambda b: dict(outcome)
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(a.id)
    run_for(s.clock, 60)
    assert len(s.placer.dials) == 1
    b = s.service.create_campaign("B")
    s.service.import_records(b.id, [borrower_row(1)])
    s.service.start(b.id)
    run_for(s.clock, 300)
    return a.id, b.id


def test_complaint_in_one_campaign_is_refused_in_another(stack_factory: StackFactory) -> None:
    """A complaint in campaign A: campaign B never dials the borrower, stores REVIEW_OPEN and queues for review."""
    s = stack_factory()
    _a, b = _two_campaigns(s, {"disposition": "complaint", "complaint": True})
    assert len(s.placer.dials) == 1
    assert [r["rule"] for r in s.store.refusals(b)] == ["REVIEW_OPEN"]
    assert s.store.get_borrower(b, "B001").status == "review"


def test_dispute_and_paid_claim_are_honoured_in_every_campaign(stack_factory: StackFactory) -> None:
    """A dispute blocks for review; an already-paid claim under verification blocks until verify_days."""
    s = stack_factory()
    _a, b = _two_campaigns(s, {"disposition": "dispute"})
    assert [r["rule"] for r in s.store.refusals(b)] == ["REVIEW_OPEN"]
    s2 = stack_factory()
    _a2, b2 = _two_campaigns(s2, {"disposition": "already_paid", "verified": False})
    assert len(s2.placer.dials) == 1
    assert [r["rule"] for r in s2.store.refusals(b2)] == ["PAID_CLAIM"]
    due = s2.store.get_borrower(b2, "B001").next_due_at
    assert due is not None and due >= at_local(2026, 11, 30, 10, 0) + 3 * 86400 - 1


def test_promise_in_one_campaign_is_not_redialled_or_counted_twice(stack_factory: StackFactory) -> None:
    """A pending promise from A: B refuses with PROMISE_PENDING until the promise is decided; one promise total."""
    s = stack_factory()
    a, b = _two_campaigns(s, {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 1500.0})
    assert len(s.placer.dials) == 1
    refusals = s.store.refusals(b)
    assert [r["rule"] for r in refusals] == ["PROMISE_PENDING"]
    # decided at the end of 12-02 + grace 1 day, local time
    assert s.store.get_borrower(b, "B001").next_due_at == at_local(2026, 12, 4, 0, 0)
    pa, pb = s.service.progress(a).to_dict(), s.service.progress(b).to_dict()
    assert (pa["promises"], pa["promised_amount"]) == (1, 1500.0)
    assert (pb["promises"], pb["promised_amount"]) == (0, 0.0)


def test_restated_promise_keeps_one_row_and_a_new_one_supersedes(stack_factory: StackFactory) -> None:
    """The reminder call restating the same promise adds history, not a row; a different promise supersedes."""
    s = stack_factory()
    said = [{"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 1500.0},
            {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 1500.0}]
    s.runner.outcome = lambda b: said.pop(0)
    c = s.service.create_campaign("A")
    s.service.import_records(c.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    s.clock.advance(at_local(2026, 12, 1, 8, 30) - s.clock.seconds())  # the reminder comes due
    run_for(s.clock, 60)
    assert len(s.placer.dials) == 2
    rows = s.store.connection.execute("SELECT state FROM promises").fetchall()
    assert [r["state"] for r in rows] == ["pending"]
    history = s.store.connection.execute("SELECT state, detail FROM promise_history").fetchall()
    assert len(history) == 2 and "restated_in" in history[1]["detail"]
    assert s.service.progress(c.id).to_dict()["promises"] == 1
    assert s.store.get_borrower(c.id, "B001").next_reason == "ptp_pending"


def test_wrong_number_is_refused_for_that_borrower_in_another_campaign(stack_factory: StackFactory) -> None:
    """A wrong number reported in A is skipped by B (WRONG_NUMBER) while the borrower's other number is dialled."""
    s = stack_factory()
    s.runner.outcome = lambda b: {"disposition": "wrong_number"}
    row = borrower_row(1, alt_phones=["13900139001"])
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(a.id)
    run_for(s.clock, 60)
    s.runner.outcome = lambda b: {"disposition": "refused"}
    b = s.service.create_campaign("B")
    s.service.import_records(b.id, [row])
    s.service.start(b.id)
    run_for(s.clock, 60)
    assert [d[1] for d in s.placer.dials] == ["+8613800130001", "+8613900139001"]
    c = s.service.create_campaign("C")  # only the wrong number: refused and stored with the rule
    s.service.import_records(c.id, [borrower_row(1)])
    s.service.start(c.id)
    run_for(s.clock, 60)
    assert len(s.placer.dials) == 2
    assert [(r["rule"], r["phone"]) for r in s.store.refusals(c.id)] == [("WRONG_NUMBER", "+8613800130001")]


def test_callback_time_from_one_campaign_holds_in_another(stack_factory: StackFactory) -> None:
    """A callback asked for tomorrow in A: B waits until that time (CALLBACK_TIME) instead of calling now."""
    s = stack_factory()
    _a, b = _two_campaigns(s, {"disposition": "callback", "callback_at": "2026-12-01T15:00:00"})
    assert len(s.placer.dials) == 1
    assert [r["rule"] for r in s.store.refusals(b)] == ["CALLBACK_TIME"]
    assert s.store.get_borrower(b, "B001").next_due_at == at_local(2026, 12, 1, 15, 0)

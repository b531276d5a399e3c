"""The coordinator's inbound desk (issue 14): caller identified by number, attempt stored inbound, caps untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from campaign_fakes import borrower_row
from campaign_stack import Stack, StackFactory, both_engines
from twisted.internet.defer import Deferred, fail

from campaign.dialer import AttemptLost
from campaign.inbound import InboundCalls
from campaign.model import AttemptStart
from campaign.store import SqliteStore, SqlStore
from session.inbound import InboundAdmission, InboundRefusal, InboundRequest
from session.record import CallRecord

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL

CALLER_ID = "02150001234"


def _desk(s: Stack, **kwargs: object) -> InboundCalls:
    return InboundCalls(s.scheduler, script_set="inbound_callback", trunk_caller_ids=["4000"], **kwargs)  # type: ignore[arg-type]


def _campaign(s: Stack, rows: int = 2) -> str:
    c = s.service.create_campaign("back", caller_id=CALLER_ID)
    s.service.import_records(c.id, [borrower_row(i) for i in range(1, rows + 1)])
    return c.id


def _record(attempt_id: str, outcome: dict[str, object]) -> CallRecord:
    return CallRecord(call_id=f"{attempt_id}-sip", borrower_id="B001", attempt_id=attempt_id, trunk="t",
                      script_set="inbound_callback", disposition="answered", sip_code=200, sip_reason="OK",
                      invite_sent_at=1.0, ringing_at=1.1, answered_at=1.2, ended_at=40.0, hangup_by="bot",
                      end_reason="completed", recording=None, outcome=outcome, direction="inbound")


def _counts(store: SqlStore) -> tuple[int, int, int]:
    return (store.count_attempts_to_borrower("B001", 0, 2e9),
            store.count_unanswered_to_number("+8613800130001", 0, 2e9),
            sum(n for _s, n in store.active_attempt_counts(store.list_campaigns()[0].id, "Asia/Shanghai", 0, 2e9)))


def test_known_caller_is_admitted_and_the_record_is_stored_inbound(stack_factory: StackFactory) -> None:
    """A borrower's number calling our campaign caller ID opens an inbound attempt; the promise said on it is
    stored like an outbound call's, and C2/C3 counts and attempts_total stay at zero."""
    s = stack_factory()
    cid = _campaign(s)
    desk = _desk(s)
    answer = desk.decide(InboundRequest("t", "+86 138 0013 0001", CALLER_ID, "sip-1"))
    assert isinstance(answer, InboundAdmission)
    assert answer.script_set == "inbound_callback" and answer.borrower["id"] == "B001"
    assert ("B001" in {b for _c, b in s.dialer.busy_borrowers()})  # not dialled while they talk to us
    result: Deferred[CallRecord] = Deferred()
    desk.settle(answer.attempt_id, result)
    result.callback(_record(answer.attempt_id, {"disposition": "promise_to_pay", "ptp_date": "2026-12-04",
                                                "ptp_amount": 3000.0, "identity_confirmed": True}))
    [attempt] = s.store.attempts(cid)
    assert (attempt["direction"], attempt["state"], attempt["disposition"], attempt["reason"]) == (
        "inbound", "completed", "answered", "inbound")
    assert s.store.get_call(f"{answer.attempt_id}-sip")["outcome"] == "promise_to_pay"
    assert [p.amount for p in s.store.active_promises("B001")] == [3000.0]
    assert _counts(s.store) == (0, 0, 0)
    borrower = s.store.get_borrower(cid, "B001")
    assert borrower.attempts_total == 0 and borrower.next_reason == "ptp_reminder"  # as after an outbound promise
    assert s.dialer.busy_borrowers() == set()


def test_trunk_caller_id_is_ours_too(stack_factory: StackFactory) -> None:
    """The trunks' caller IDs count as ours as well as the campaigns'."""
    s = stack_factory()
    _campaign(s)
    assert isinstance(_desk(s).decide(InboundRequest(None, "13800130002", "4000", "x")), InboundAdmission)


def test_refusals_store_nothing(stack_factory: StackFactory) -> None:
    """Unknown number, a number that is not ours, a caller on another call, a finished campaign: refused with
    480/486 and not a row written."""
    s = stack_factory()
    cid = _campaign(s)
    desk = _desk(s)
    unknown = desk.decide(InboundRequest("t", "13900000000", CALLER_ID, "a"))
    not_ours = desk.decide(InboundRequest("t", "13800130001", "02199999999", "b"))
    garbage = desk.decide(InboundRequest("t", "anonymous", CALLER_ID, "c"))
    assert unknown == InboundRefusal(480, "the caller is not a borrower")
    assert isinstance(not_ours, InboundRefusal) and not_ours.code == 480
    assert isinstance(garbage, InboundRefusal) and garbage.code == 480
    s.store.begin_attempt(AttemptStart("out-1", cid, "B002", "+8613800130002", None, "scheduled", 1.0))
    s.dialer.live["out-1"] = s.store.pending_attempts()[0]
    busy = desk.decide(InboundRequest("t", "13800130002", CALLER_ID, "d"))
    assert isinstance(busy, InboundRefusal) and busy.code == 486
    assert [a["id"] for a in s.store.attempts(cid)] == ["out-1"]
    s.store.set_campaign_state(cid, "finished", 2.0)
    assert isinstance(desk.decide(InboundRequest("t", "13800130001", "4000", "e")), InboundRefusal)
    assert [a["id"] for a in s.store.attempts(cid)] == ["out-1"]


def test_wrong_number_contact_does_not_identify(stack_factory: StackFactory) -> None:
    """A number recorded as wrong for a borrower does not make its caller that borrower."""
    s = stack_factory()
    cid = _campaign(s, rows=1)
    s.store.mark_contact_invalid(cid, "B001", "+8613800130001", "wrong_number")
    assert isinstance(_desk(s).decide(InboundRequest("t", "13800130001", CALLER_ID, "a")), InboundRefusal)


def test_lost_inbound_call_is_kept_lost(stack_factory: StackFactory) -> None:
    """A worker that dies mid-call: the inbound attempt is kept as lost (worker_lost), still not a C2/C3 attempt."""
    s = stack_factory()
    cid = _campaign(s, rows=1)
    desk = _desk(s)
    answer = desk.decide(InboundRequest("t", "13800130001", CALLER_ID, "a"))
    assert isinstance(answer, InboundAdmission)
    desk.settle(answer.attempt_id, fail(AttemptLost("worker_lost")))
    [attempt] = s.store.attempts(cid)
    assert (attempt["state"], attempt["disposition"], attempt["direction"]) == ("lost", "worker_lost", "inbound")
    assert _counts(s.store) == (0, 0, 0)


def test_migration_marks_existing_attempts_outbound(tmp_path: Path) -> None:
    """A store from before the direction column keeps its attempts as outbound (and counted) after upgrading."""
    from campaign.db import SQLITE
    from campaign.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for migration in MIGRATIONS[:-1]:
        for statement in migration.statements(SQLITE):
            db.execute(statement)
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
    db.execute("INSERT INTO campaigns (id, name, state, timezone, max_concurrent_calls, calls_per_second, created_at)"
               " VALUES ('c', 'c', 'running', 'Asia/Shanghai', 1, 1, 0)")
    db.execute("INSERT INTO attempts (id, campaign_id, borrower_id, phone, reason, started_at, state)"
               " VALUES ('a', 'c', 'B1', '+8613800138000', 'scheduled', 10, 'lost')")
    db.commit()
    db.close()
    store = SqliteStore(path)
    try:
        assert store.attempts("c")[0]["direction"] == "outbound"
        assert store.count_attempts_to_borrower("B1", 0, 100) == 1
    finally:
        store.close()

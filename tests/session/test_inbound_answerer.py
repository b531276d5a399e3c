"""The SIP side of inbound calls (issue 14): refuse without a slot or an admission, answer and run when admitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from session.inbound import InboundAdmission, InboundAnswerer, InboundRefusal, InboundRequest
from session.record import CallRecord
from telephony.dispositions import CallTimings, DialFailure

BORROWER = {"id": "B1", "name": "张伟", "phone": "13800138000", "amount_due": 3200, "overdue_days": 12,
            "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融", "risk_score": 650}


@dataclass
class FakeCall:
    call_id: str = "sip-1"
    answered: bool = False
    is_over: bool = False
    timings: CallTimings = field(default_factory=lambda: CallTimings(10.0, 10.1, None, None))


@dataclass
class FakeIncoming:
    """`telephony.call.IncomingCall`'s shape: records what it was told."""

    caller: str = "+8613800138000"
    dialed: str = "4000"
    trunk: str | None = "t"
    call: FakeCall = field(default_factory=FakeCall)
    refused: list[tuple[int, str]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    hung_up_first: bool = False

    def refuse(self, code: int, reason: str) -> None:
        self.refused.append((code, reason))

    def answer(self, **kwargs: Any) -> Deferred[Any]:
        self.answers.append(kwargs)
        if self.hung_up_first:
            return fail(DialFailure("canceled", 487, "caller hung up"))
        self.call.answered = True
        return succeed(self.call)


@dataclass
class FakeDesk:
    decision: Any
    asked: list[InboundRequest] = field(default_factory=list)
    settled: dict[str, Deferred[CallRecord]] = field(default_factory=dict)

    def admit(self, request: InboundRequest) -> Deferred[Any]:
        self.asked.append(request)
        return fail(self.decision) if isinstance(self.decision, Exception) else succeed(self.decision)

    def settle(self, attempt_id: str, result: Deferred[CallRecord]) -> None:
        self.settled[attempt_id] = result


@dataclass
class FakeRunner:
    runs: list[tuple[str, str | None]] = field(default_factory=list)

    def run(self, call: Any, borrower: Any, segment: Any, attempt_id: str) -> Deferred[CallRecord]:
        self.runs.append((attempt_id, segment.script_set if segment is not None else None))
        return succeed(CallRecord(
            call_id=call.call_id, borrower_id=borrower.id, attempt_id=attempt_id, trunk="t",
            script_set=segment.script_set, disposition="answered", sip_code=200, sip_reason="OK", invite_sent_at=10.0,
            ringing_at=10.1, answered_at=10.2, ended_at=30.0, hangup_by="bot", end_reason="completed", recording=None,
            outcome={"disposition": "callback"}))


ADMITTED = InboundAdmission("inb-1", BORROWER, None, "inbound_callback", "/tmp/inb-1.wav", 300.0)


def _answerer(desk: FakeDesk, runner: FakeRunner | None = None, room: bool = True) -> InboundAnswerer:
    return InboundAnswerer(desk, runner if runner is not None else FakeRunner(), Clock(), has_room=lambda: room)


def test_no_free_slot_is_486_without_asking() -> None:
    """A worker with every slot in use answers 486 at once; the coordinator is not asked, nothing is opened."""
    desk = FakeDesk(ADMITTED)
    incoming = FakeIncoming()
    _answerer(desk, room=False)(incoming)
    assert incoming.refused == [(486, "every call slot is in use")] and desk.asked == [] and not incoming.answers


def test_refusal_and_unreachable_desk_are_refused_with_their_code() -> None:
    """The desk's refusal code is sent as is; a desk that fails (coordinator gone) gives 480; no session runs."""
    runner = FakeRunner()
    for decision, code in ((InboundRefusal(480, "the caller is not a borrower"), 480),
                           (InboundRefusal(486, "the borrower is already on a call"), 486),
                           (ConnectionError("pipe closed"), 480)):
        incoming = FakeIncoming()
        _answerer(FakeDesk(decision), runner)(incoming)
        assert [c for c, _ in incoming.refused] == [code] and not incoming.answers
    assert runner.runs == []


def test_admitted_call_is_answered_run_with_the_inbound_set_and_settled_as_inbound() -> None:
    """Admitted: 200 OK with the desk's recording path, the session runs with the inbound script set (even with no
    segment list), and the record handed to the desk says direction inbound."""
    desk, runner, incoming = FakeDesk(ADMITTED), FakeRunner(), FakeIncoming()
    _answerer(desk, runner)(incoming)
    assert desk.asked[0] == InboundRequest("t", "+8613800138000", "4000", "sip-1")
    assert incoming.answers == [{"record_path": "/tmp/inb-1.wav", "max_seconds": 300.0}]
    assert runner.runs == [("inb-1", "inbound_callback")]
    records: list[CallRecord] = []
    desk.settled["inb-1"].addCallback(records.append)
    assert records[0].direction == "inbound" and records[0].outcome == {"disposition": "callback"}


def test_caller_gone_before_the_answer_is_settled_unanswered() -> None:
    """The caller hangs up between admission and 200 OK: no session, the desk gets an unanswered inbound record."""
    desk, runner, incoming = FakeDesk(ADMITTED), FakeRunner(), FakeIncoming(hung_up_first=True)
    _answerer(desk, runner)(incoming)
    records: list[CallRecord] = []
    desk.settled["inb-1"].addCallback(records.append)
    assert runner.runs == []
    assert (records[0].disposition, records[0].direction, records[0].answered_at) == ("canceled", "inbound", None)

"""Inbound sessions (issue 14): a borrower calling back our caller ID is answered by the bot.

The SIP side (`telephony.call.IncomingCall`) rings; this module asks whoever owns the store (the
coordinator, over AMP from a call worker, or in-process with `serve --workers 0`) through the
`InboundDesk` seam whether to answer: the caller is identified by number there and an attempt with
direction `inbound` is opened. Refused (unknown caller, not our number, no slot): a final 480/486,
no session, nothing stored. Admitted: 200 OK, then the ordinary session with the inbound script
set (greeting, identity confirmation first, then the same collection dialogue; C4-C6 as outbound),
and the call record goes back to the desk, which stores it like an outbound one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred, ensureDeferred

from dialogue.borrower import Borrower, BorrowerError
from dialogue.segments import Segment, segment_for
from session.record import CallRecord
from telemetry.logging import log_event
from telephony.dispositions import DialFailure

log = logging.getLogger(__name__)

BUSY_HERE = 486  # no free call slot here, or the borrower is already on a call
TEMPORARILY_UNAVAILABLE = 480  # unknown caller, not one of our numbers, nobody to ask


@dataclass(frozen=True)
class InboundRequest:
    """What the SIP side knows of a ringing inbound call."""

    trunk: str | None
    caller_number: str  # From user part, as the carrier sent it
    dialed_number: str  # request-URI user part: should be one of our caller IDs
    call_id: str  # SIP Call-ID


@dataclass(frozen=True)
class InboundAdmission:
    """Answer it: the attempt opened for it and who the caller is (the stored borrower data)."""

    attempt_id: str
    borrower: dict[str, Any]  # `Borrower.from_dict` input
    segment: str | None
    script_set: str
    record_path: str | None = None
    max_seconds: float | None = None


@dataclass(frozen=True)
class InboundRefusal:
    """Do not answer: the final SIP code to send and why (logged, never stored)."""

    code: int
    reason: str


class InboundDesk(Protocol):
    """The store side: `admit` decides (and opens the attempt), `settle` stores the finished call.

    `settle`'s Deferred fires with the CallRecord, or fails (`campaign.dialer.AttemptLost` when the
    result cannot be known); either way the desk completes or keeps the attempt as lost.
    """

    def admit(self, request: InboundRequest) -> Deferred[InboundAdmission | InboundRefusal]: ...

    def settle(self, attempt_id: str, result: Deferred[CallRecord]) -> None: ...


class Conversations(Protocol):
    """`session.runner.SessionRunner`'s run."""

    def run(self, call: Any, borrower: Borrower, segment: Segment | None, attempt_id: str) -> Deferred[CallRecord]: ...


class InboundAnswerer:
    """Answers `IncomingCall`s from trunks when the desk admits the caller; one per SIP endpoint."""

    def __init__(
        self, desk: InboundDesk, runner: Conversations | None, reactor: Any, *,
        segments: Sequence[Segment] = (), has_room: Callable[[], bool] = lambda: True,
        on_start: Callable[[str, Any], None] | None = None, on_end: Callable[[str], None] | None = None,
    ) -> None:
        self.desk = desk
        self.runner = runner
        self.reactor = reactor
        self.segments = tuple(segments)
        self._by_name: Mapping[str, Segment] = {s.name: s for s in self.segments}
        self.has_room = has_room  # a call slot of this endpoint/worker is free for one more call
        self.on_start = on_start  # (attempt id, IncomingCall): the call holds a slot from now (worker bookkeeping)
        self.on_end = on_end

    def __call__(self, incoming: Any) -> None:
        """`SipEndpoint.on_trunk_call`: reactor thread, the call rings."""
        if self.runner is None:
            incoming.refuse(BUSY_HERE, "no call session in this process (--no-session)")
            return
        if not self.has_room():
            log_event(log, "inbound.refused", logging.INFO, caller=incoming.caller, code=BUSY_HERE, reason="no_slot")
            incoming.refuse(BUSY_HERE, "every call slot is in use")
            return
        request = InboundRequest(incoming.trunk, incoming.caller, incoming.dialed, incoming.call.call_id)
        try:
            asked = self.desk.admit(request)
        except Exception as exc:  # the desk broke: refuse politely, never ring forever
            asked = Deferred()
            asked.errback(exc)
        asked.addCallbacks(self._decided, self._not_asked, callbackArgs=(incoming,), errbackArgs=(incoming,))

    def _not_asked(self, failure: Any, incoming: Any) -> None:
        log_event(log, "inbound.refused", logging.WARNING, caller=incoming.caller, code=TEMPORARILY_UNAVAILABLE,
                  reason="desk_unavailable", error=failure.getErrorMessage())
        incoming.refuse(TEMPORARILY_UNAVAILABLE, "cannot identify the caller now")

    def _decided(self, answer: InboundAdmission | InboundRefusal, incoming: Any) -> None:
        if isinstance(answer, InboundRefusal):
            log_event(log, "inbound.refused", logging.INFO, caller=incoming.caller, code=answer.code,
                      reason=answer.reason)
            incoming.refuse(answer.code, answer.reason)
            return
        if self.on_start is not None:
            self.on_start(answer.attempt_id, incoming)
        done = ensureDeferred(self._converse(incoming, answer))

        def finished(result: Any) -> Any:
            if self.on_end is not None:
                self.on_end(answer.attempt_id)
            return result

        done.addBoth(finished)
        self.desk.settle(answer.attempt_id, done)

    async def _converse(self, incoming: Any, admission: InboundAdmission) -> CallRecord:
        """Never fails: whatever goes wrong ends this call with a record saying so (as the session does)."""
        try:
            return await self._answer_and_run(incoming, admission)
        except Exception as exc:
            log_event(log, "inbound.error", logging.ERROR, attempt=admission.attempt_id, error=repr(exc))
            if not incoming.call.is_over:
                incoming.call.hangup(f"error: {exc}").addErrback(lambda _f: None)
            answered = incoming.call.answered
            return self._unanswered(incoming, admission, "answered" if answered else "trunk_error",
                                    200 if answered else None, f"error: inbound: {type(exc).__name__}: {exc}")

    async def _answer_and_run(self, incoming: Any, admission: InboundAdmission) -> CallRecord:
        assert self.runner is not None
        try:
            borrower = Borrower.from_dict(admission.borrower)
        except BorrowerError as exc:
            incoming.refuse(TEMPORARILY_UNAVAILABLE, "stored borrower data refused")
            return self._unanswered(incoming, admission, "trunk_error", None, f"borrower data refused: {exc}")
        try:
            call = await incoming.answer(record_path=admission.record_path, max_seconds=admission.max_seconds)
        except DialFailure as failure:  # the caller hung up before our 200 OK was confirmed
            return self._unanswered(incoming, admission, failure.disposition, failure.sip_code, failure.reason)
        log_event(log, "inbound.answered", call_id=call.call_id, attempt=admission.attempt_id,
                  script_set=admission.script_set)
        record = await self.runner.run(call, borrower, self._segment(borrower, admission), admission.attempt_id)
        return dataclasses.replace(record, direction="inbound")

    def _segment(self, borrower: Borrower, admission: InboundAdmission) -> Segment:
        """The borrower's segment with the inbound script set (their stored segment, else the one they match)."""
        segment = self._by_name.get(admission.segment or "")
        if segment is None:
            try:
                segment = segment_for(borrower, self.segments)
            except LookupError:  # no segment list: the inbound set still applies, never an outbound opening
                segment = Segment("inbound", borrower.stage, "standard", admission.script_set)
        return dataclasses.replace(segment, script_set=admission.script_set)

    @staticmethod
    def _unanswered(incoming: Any, admission: InboundAdmission, disposition: str, code: int | None,
                    reason: str) -> CallRecord:
        call = incoming.call
        timings = call.timings
        return CallRecord(
            call_id=call.call_id or f"{admission.attempt_id}-call", borrower_id=str(admission.borrower.get("id", "")),
            attempt_id=admission.attempt_id, trunk=incoming.trunk, script_set=admission.script_set,
            disposition=disposition, sip_code=code, sip_reason=reason, invite_sent_at=timings.invite_sent_at,
            ringing_at=timings.ringing_at, answered_at=timings.answered_at,
            ended_at=timings.ended_at or timings.invite_sent_at,
            hangup_by=None, end_reason=reason, recording=None, outcome=None, direction="inbound",
        )

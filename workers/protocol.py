"""The AMP commands the coordinator and a call worker speak (`twisted.protocols.amp`).

Both sides import this module and nothing else of each other. Every field is typed; the borrower
crosses as a JSON object and the call record as `CallRecord.to_dict()` JSON, never as a pickle,
so a worker can only hand back data, not objects.

Coordinator -> worker: `PlaceCall`, `Cancel`, `Heartbeat`, `Drain`. Worker -> coordinator: `Ready`
once its endpoint listens; `InboundCall` when a trunk INVITE to our caller ID rings (answer it?) and
`InboundEnded` with that call's record (issue 14).
"""

# ruff: noqa: RUF012  (AMP declares commands as mutable class attributes by design)
from __future__ import annotations

import json
from typing import Any, ClassVar

from twisted.protocols import amp

from session.inbound import InboundAdmission, InboundRefusal
from session.record import CallRecord
from telephony.dispositions import CallTimings, DialFailure


class JsonObject(amp.Argument):
    """A JSON object (dict) on the wire; anything else is refused on both ends."""

    def toString(self, inObject: Any) -> bytes:
        if not isinstance(inObject, dict):
            raise TypeError(f"expected a dict, got {type(inObject).__name__}")
        return json.dumps(inObject, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def fromString(self, inString: bytes) -> Any:
        value = json.loads(inString.decode("utf-8"))
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value


class WorkerBusy(Exception):
    """The worker has no free call slot or is draining; no SIP was sent (the attempt is withdrawn)."""


class BadPlaceCall(Exception):
    """The request cannot be placed as given (e.g. the borrower data does not validate)."""


class Ready(amp.Command):
    """Worker -> coordinator: the endpoint listens on `sip_port` and carries `slots` calls."""

    arguments = [(b"pid", amp.Integer()), (b"sip_port", amp.Integer()), (b"slots", amp.Integer())]
    response: ClassVar[list[tuple[bytes, amp.Argument]]] = []


class PlaceCall(amp.Command):
    """Dial `target` and, if answered, run the whole session there; reply when the call is over.

    Reply: `answered` with `record` (CallRecord JSON), or the `DialFailure` fields of an unanswered dial.
    """

    arguments = [
        (b"attempt_id", amp.Unicode()),
        (b"target", amp.Unicode()),
        (b"trunk", amp.Unicode(optional=True)),
        (b"caller_id", amp.Unicode(optional=True)),
        (b"max_seconds", amp.Float(optional=True)),
        (b"record_path", amp.Unicode(optional=True)),
        (b"borrower", JsonObject()),
        (b"segment", amp.Unicode(optional=True)),
        (b"script_set", amp.Unicode(optional=True)),
    ]
    response = [
        (b"answered", amp.Boolean()),
        (b"record", JsonObject(optional=True)),
        (b"disposition", amp.Unicode(optional=True)),
        (b"sip_code", amp.Integer(optional=True)),
        (b"reason", amp.Unicode(optional=True)),
        (b"call_id", amp.Unicode(optional=True)),
        (b"invite_sent_at", amp.Float(optional=True)),
        (b"ringing_at", amp.Float(optional=True)),
        (b"answered_at", amp.Float(optional=True)),
        (b"ended_at", amp.Float(optional=True)),
    ]
    errors = {WorkerBusy: b"WORKER_BUSY", BadPlaceCall: b"BAD_PLACE_CALL"}


class Cancel(amp.Command):
    """Hang up (or abandon the dial of) one attempt with `reason`; `found` is False for an unknown attempt."""

    arguments = [(b"attempt_id", amp.Unicode()), (b"reason", amp.Unicode())]
    response = [(b"found", amp.Boolean())]


class Heartbeat(amp.Command):
    """Liveness plus the worker's figures: slots, calls in progress, calls done, and cumulative frame counts:
    borrower frames of ended sessions (all/late) and bot frames handed to the bridge (all/after their deadline)."""

    arguments: ClassVar[list[tuple[bytes, amp.Argument]]] = []
    response = [
        (b"slots", amp.Integer()),
        (b"in_use", amp.Integer()),
        (b"calls_done", amp.Integer()),
        (b"frames", amp.Integer()),
        (b"frames_late", amp.Integer()),
        (b"bot_frames", amp.Integer()),
        (b"bot_frames_late", amp.Integer()),
    ]


class Drain(amp.Command):
    """Accept no more `PlaceCall`; calls in progress continue. Replies with how many are still up."""

    arguments: ClassVar[list[tuple[bytes, amp.Argument]]] = []
    response = [(b"in_use", amp.Integer())]


class InboundCall(amp.Command):
    """Worker -> coordinator: a trunk call to `dialed_number` from `caller_number` rings here; answer it?

    Reply: `admitted` with the attempt opened for it (`attempt_id`, `borrower` JSON, `segment`,
    `script_set`, `record_path`, `max_seconds`), or not, with the SIP `code` to refuse with and `reason`.
    """

    arguments = [
        (b"trunk", amp.Unicode(optional=True)),
        (b"caller_number", amp.Unicode()),
        (b"dialed_number", amp.Unicode()),
        (b"call_id", amp.Unicode()),
    ]
    response = [
        (b"admitted", amp.Boolean()),
        (b"attempt_id", amp.Unicode(optional=True)),
        (b"borrower", JsonObject(optional=True)),
        (b"segment", amp.Unicode(optional=True)),
        (b"script_set", amp.Unicode(optional=True)),
        (b"record_path", amp.Unicode(optional=True)),
        (b"max_seconds", amp.Float(optional=True)),
        (b"code", amp.Integer(optional=True)),
        (b"reason", amp.Unicode(optional=True)),
    ]


class InboundEnded(amp.Command):
    """Worker -> coordinator: the admitted inbound call `attempt_id` is over; `record` is its CallRecord JSON."""

    arguments = [(b"attempt_id", amp.Unicode()), (b"record", JsonObject())]
    response = [(b"known", amp.Boolean())]


def admission_reply(answer: InboundAdmission | InboundRefusal) -> dict[str, Any]:
    if isinstance(answer, InboundRefusal):
        return {"admitted": False, "code": answer.code, "reason": answer.reason}
    reply: dict[str, Any] = {
        "admitted": True, "attempt_id": answer.attempt_id, "borrower": answer.borrower, "segment": answer.segment,
        "script_set": answer.script_set, "record_path": answer.record_path, "max_seconds": answer.max_seconds,
    }
    return {k: v for k, v in reply.items() if v is not None}


def admission_from_reply(reply: dict[str, Any]) -> InboundAdmission | InboundRefusal:
    if not reply.get("admitted"):
        return InboundRefusal(int(reply.get("code") or 480), str(reply.get("reason") or "refused"))
    borrower, attempt_id, script_set = reply.get("borrower"), reply.get("attempt_id"), reply.get("script_set")
    if not isinstance(borrower, dict) or not attempt_id or not script_set:
        raise ValueError("an admitted InboundCall reply needs attempt_id, borrower and script_set")
    return InboundAdmission(attempt_id=str(attempt_id), borrower=borrower, segment=reply.get("segment"),
                            script_set=str(script_set), record_path=reply.get("record_path"),
                            max_seconds=reply.get("max_seconds"))


def answered_reply(record: CallRecord) -> dict[str, Any]:
    return {"answered": True, "record": record.to_dict()}


def failure_reply(failure: DialFailure) -> dict[str, Any]:
    timings = failure.timings
    reply: dict[str, Any] = {
        "answered": False, "disposition": failure.disposition, "sip_code": failure.sip_code,
        "reason": failure.reason, "call_id": failure.call_id or None,
    }
    if timings is not None:
        reply.update(invite_sent_at=timings.invite_sent_at, ringing_at=timings.ringing_at,
                     answered_at=timings.answered_at, ended_at=timings.ended_at)
    return {k: v for k, v in reply.items() if v is not None}


def record_from_reply(reply: dict[str, Any]) -> CallRecord:
    """The answered call's record, or raise the unanswered dial's `DialFailure` (as `SipEndpoint.dial` does)."""
    if reply.get("answered"):
        record = reply.get("record")
        if not isinstance(record, dict):
            raise ValueError("an answered PlaceCall reply carries no record")
        return CallRecord.from_dict(record)
    invite = reply.get("invite_sent_at")
    timings = None if invite is None else CallTimings(
        invite_sent_at=invite, ringing_at=reply.get("ringing_at"), answered_at=reply.get("answered_at"),
        ended_at=reply.get("ended_at"))
    raise DialFailure(str(reply.get("disposition") or "trunk_error"), reply.get("sip_code"),
                      str(reply.get("reason") or ""), call_id=str(reply.get("call_id") or ""), timings=timings)

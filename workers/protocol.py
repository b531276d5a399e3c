"""The AMP commands the coordinator and a call worker speak (`twisted.protocols.amp`).

Both sides import this module and nothing else of each other. Every field is typed; the borrower
crosses as a JSON object and the call record as `CallRecord.to_dict()` JSON, never as a pickle,
so a worker can only hand back data, not objects.

Coordinator -> worker: `PlaceCall`, `Cancel`, `Heartbeat`, `Drain`. Worker -> coordinator: `Ready`
once its endpoint listens.
"""

# ruff: noqa: RUF012  (AMP declares commands as mutable class attributes by design)
from __future__ import annotations

import json
from typing import Any, ClassVar

from twisted.protocols import amp

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
    """Liveness plus the worker's figures: slots, calls in progress, calls done, borrower frames (all/late)."""

    arguments: ClassVar[list[tuple[bytes, amp.Argument]]] = []
    response = [
        (b"slots", amp.Integer()),
        (b"in_use", amp.Integer()),
        (b"calls_done", amp.Integer()),
        (b"frames", amp.Integer()),
        (b"frames_late", amp.Integer()),
    ]


class Drain(amp.Command):
    """Accept no more `PlaceCall`; calls in progress continue. Replies with how many are still up."""

    arguments: ClassVar[list[tuple[bytes, amp.Argument]]] = []
    response = [(b"in_use", amp.Integer())]


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

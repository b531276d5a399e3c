"""Placing one attempt: write it, dial, hand an answered call to the session, store the record.

The seams are Protocols so the scheduler runs against the real `telephony.endpoint.SipEndpoint`
and the session's runner in production, and against fakes driven by `task.Clock` in tests:
- `CallPlacer.dial(...)` is `SipEndpoint.dial`; failures are `telephony.dispositions.DialFailure`.
- `AnsweredCallRunner.run(call, borrower, segment, attempt_id)` is implemented by the session and
  returns the finished `CallRecord`.
- `CallCapacity` (`max_calls`, `free_call_slots`) is the endpoint's slot table; the pacer treats it as
  one more limit, and an `EndpointBusy` refusal (no SIP sent) withdraws the attempt instead of counting it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from twisted.internet.defer import Deferred, ensureDeferred

from campaign.clock import ReactorClock
from campaign.model import AttemptStart, BorrowerState, Campaign, FollowUp
from campaign.store import CampaignStore, new_id
from dialogue.borrower import Borrower
from dialogue.segments import Segment
from session.record import CallRecord
from telemetry.logging import log_event
from telemetry.metrics import REGISTRY, Registry
from telephony.dispositions import DialFailure, EndpointBusy

log = logging.getLogger(__name__)

LIVE_DIALING = "dialing"  # INVITE sent, not answered yet (trying or ringing)
LIVE_TALKING = "talking"  # answered: the session runs the conversation


class CallPlacer(Protocol):
    """Place a call (`SipEndpoint.dial`); the Deferred fails with `DialFailure` when not answered."""

    def dial(
        self, target: str, trunk: str | None = None, *, record_path: str | None = None,
        max_seconds: float | None = None, caller_id: str | None = None,
    ) -> Deferred[Any]: ...


class CallCapacity(Protocol):
    """How many calls the endpoint can carry (`SipEndpoint`: pjsua's compiled slot table, 4 in the wheel)."""

    @property
    def max_calls(self) -> int: ...

    @property
    def free_call_slots(self) -> int: ...


class AnsweredCallRunner(Protocol):
    """Run the conversation of an answered call (the session) and return its record."""

    def run(self, call: Any, borrower: Borrower, segment: Segment | None, attempt_id: str) -> Deferred[CallRecord]: ...


@dataclass(frozen=True)
class AttemptRequest:
    """One attempt as a whole (dial + conversation), for a placer that runs both elsewhere (call workers).

    `borrower` is the stored borrower's data (`Borrower.from_dict` input): plain JSON-able values,
    so it can cross a process boundary as typed fields, never as a pickle.
    """

    attempt_id: str
    target: str
    trunk: str | None
    caller_id: str | None
    max_seconds: float | None
    record_path: str | None
    borrower: dict[str, Any]
    segment: str | None
    script_set: str | None = None  # replaces the segment's set (promise follow-up calls); None = the segment's


class AttemptPlacer(Protocol):
    """Dial and run one attempt, returning the answered call's record.

    Unanswered: fails with `DialFailure` (the dialer builds that record); `EndpointBusy` when no slot
    is free (no SIP sent); `AttemptLost` when the result can no longer be known (the worker died).
    The in-process form is the `CallPlacer` + `AnsweredCallRunner` pair; `workers.pool.WorkerPool`
    is the other.
    """

    def place_attempt(self, request: AttemptRequest) -> Deferred[CallRecord]: ...


class AttemptLost(Exception):
    """The attempt's result cannot be known (e.g. `worker_lost`): stored `lost`, still counted for C2/C3."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DialResult:
    """What the scheduler needs back from one attempt; `record` is None when it was withdrawn (endpoint busy)."""

    attempt: AttemptStart
    record: CallRecord | None


class _Bucket:
    """Token bucket: `rate` dials per second, bursts up to max(1, rate)."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now


class Pacer:
    """Limits per trunk and per campaign (concurrent calls, calls per second) and the endpoint's free slots.

    The endpoint counts slots pjsua still holds for calls that ended on our side (timed-out INVITEs),
    so its own figure is asked for rather than derived from our in-flight counts.
    """

    def __init__(self, capacity: CallCapacity | None = None) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self.in_flight: dict[str, int] = {}
        self.capacity = capacity

    def endpoint_has_room(self) -> bool:
        return self.capacity is None or self.capacity.free_call_slots >= 1

    def _bucket(self, key: str, rate: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[key] = _Bucket(rate, now)
        bucket.refill(now)
        return bucket

    def may_dial(self, limits: list[tuple[str, int, float]], now: float) -> bool:
        """`limits`: (key, max concurrent, calls per second) for every scope the call belongs to."""
        if not self.endpoint_has_room():
            return False
        for key, max_concurrent, rate in limits:
            if self.in_flight.get(key, 0) >= max_concurrent or self._bucket(key, rate, now).tokens < 1.0:
                return False
        return True

    def take(self, limits: list[tuple[str, int, float]], now: float) -> None:
        for key, _max, rate in limits:
            self._bucket(key, rate, now).tokens -= 1.0
            self.in_flight[key] = self.in_flight.get(key, 0) + 1

    def release(self, keys: list[str]) -> None:
        for key in keys:
            self.in_flight[key] = max(0, self.in_flight.get(key, 0) - 1)


class Dialer:
    """Runs one attempt from INVITE to stored record; never raises into the scheduler."""

    def __init__(
        self, store: CampaignStore, placer: CallPlacer | None, runner: AnsweredCallRunner | None,
        reactor: ReactorClock,
        *, recording_dir: Path | None = None, max_call_seconds: float | None = None,
        segments: tuple[Segment, ...] | None = None, metrics: Registry = REGISTRY,
        wall_clock: Callable[[], float] = _time.time, attempts: AttemptPlacer | None = None,
    ) -> None:
        self.store = store
        self.placer = placer
        self.runner = runner
        self.attempts = attempts  # when set, whole attempts go there instead of placer + runner
        self.reactor = reactor
        self.recording_dir = recording_dir
        self.max_call_seconds = max_call_seconds
        self.segments = {s.name: s for s in segments or ()}
        self.live: dict[str, AttemptStart] = {}  # attempt id -> attempt, calls in flight
        # attempt id -> (LIVE_DIALING | LIVE_TALKING, since when): what the dashboard shows per live call
        self.live_states: dict[str, tuple[str, float]] = {}
        # Set by the scheduler: decides the follow-up that is stored atomically with the attempt's result.
        self.plan_follow_up: Callable[[AttemptStart, CallRecord], FollowUp] | None = None
        # Set by the scheduler: a script set for this attempt's reason (a broken-promise call), else None.
        self.script_set_for: Callable[[AttemptStart, BorrowerState], str | None] | None = None
        self._in_flight = metrics.gauge("voicebot_calls_in_flight", "Calls dialling or connected", ["campaign"])
        self._dispositions = metrics.counter(
            "voicebot_call_dispositions_total", "Finished attempts by SIP disposition and outcome",
            ["disposition", "outcome"])
        self._withdrawn = metrics.counter(
            "voicebot_dials_withdrawn_total", "Attempts withdrawn before any SIP was sent (endpoint busy)", [])
        self._durations = metrics.histogram(
            "voicebot_call_duration_seconds", "Answered call length", [],
            buckets=(5, 10, 20, 30, 60, 90, 120, 180, 300, 600))

    def busy_borrowers(self) -> set[tuple[str, str]]:
        return {(a.campaign_id, a.borrower_id) for a in self.live.values()}

    def in_flight(self, campaign_id: str | None = None) -> int:
        return sum(1 for a in self.live.values() if campaign_id is None or a.campaign_id == campaign_id)

    def new_attempt(
        self, campaign: Campaign, borrower: BorrowerState, phone: str, trunk: str | None, reason: str
    ) -> AttemptStart:
        return AttemptStart(
            attempt_id=new_id("att"), campaign_id=campaign.id, borrower_id=borrower.borrower_id, phone=phone,
            trunk=trunk, reason=reason, started_at=self.reactor.seconds(),
        )

    def start(self, campaign: Campaign, borrower: BorrowerState, attempt: AttemptStart) -> Deferred[DialResult]:
        """Dial an attempt the store has already committed (`begin_attempt` or a won `claim_attempt`)."""
        phone, reason = attempt.phone, attempt.reason
        self.live[attempt.attempt_id] = attempt
        self.live_states[attempt.attempt_id] = (LIVE_DIALING, attempt.started_at)
        self._in_flight.inc(campaign=campaign.id)
        log_event(log, "campaign.dial", campaign=campaign.id, borrower=borrower.borrower_id, phone=phone,
                  attempt=attempt.attempt_id, reason=reason)
        return ensureDeferred(self._run(attempt, borrower, campaign.caller_id))

    async def _run(self, attempt: AttemptStart, borrower: BorrowerState, caller_id: str) -> DialResult:
        invite_wall = self.reactor.seconds()
        try:
            record = await self._call(attempt, borrower, invite_wall, caller_id)
        except EndpointBusy as busy:
            # No INVITE left: this was never a call, so it must not count for C2/C3 nor use up an attempt.
            self.store.withdraw_attempt(attempt.attempt_id, borrower.next_due_at or invite_wall, borrower.next_reason)
            self._withdrawn.inc()
            log_event(log, "campaign.dial_withdrawn", logging.WARNING, campaign=attempt.campaign_id,
                      borrower=attempt.borrower_id, attempt=attempt.attempt_id, reason=busy.reason)
            return DialResult(attempt, None)
        finally:
            self._forget(attempt)
        self.store_result(attempt, record)
        return DialResult(attempt, record)

    def _forget(self, attempt: AttemptStart) -> None:
        self.live.pop(attempt.attempt_id, None)
        self.live_states.pop(attempt.attempt_id, None)
        self._in_flight.dec(campaign=attempt.campaign_id)

    def store_result(self, attempt: AttemptStart, record: CallRecord) -> None:
        """The attempt's result and its follow-up in one transaction, counted and logged (both directions)."""
        plan = self.plan_follow_up(attempt, record) if self.plan_follow_up is not None else None
        self.store.complete_attempt(attempt.attempt_id, record, self.reactor.seconds(), plan)
        outcome = (record.outcome or {}).get("disposition") or ""
        self._dispositions.inc(disposition=record.disposition, outcome=outcome)
        if record.disposition == "answered":
            self._durations.observe(record.duration_s)
        log_event(log, "campaign.attempt_done", campaign=attempt.campaign_id, borrower=attempt.borrower_id,
                  attempt=attempt.attempt_id, disposition=record.disposition, sip_code=record.sip_code,
                  outcome=outcome, direction=attempt.direction)

    def open_inbound(self, attempt: AttemptStart) -> None:
        """An inbound call (the borrower called us) is admitted: stored pending, shown live, borrower busy."""
        self.store.begin_attempt(attempt)  # committed before the 200 OK
        self.live[attempt.attempt_id] = attempt
        self.live_states[attempt.attempt_id] = (LIVE_TALKING, attempt.started_at)
        self._in_flight.inc(campaign=attempt.campaign_id)

    def close_inbound(self, attempt: AttemptStart, record: CallRecord | None) -> None:
        """The inbound call is over: its record stored like an outbound one (None: the result cannot be known,
        the caller keeps the attempt as lost)."""
        self._forget(attempt)
        if record is not None:
            self.store_result(attempt, record)

    async def _call(
        self, attempt: AttemptStart, borrower: BorrowerState, invite_wall: float, caller_id: str
    ) -> CallRecord:
        record_path = None
        if self.recording_dir is not None:
            with contextlib.suppress(OSError):  # unusable: the call's recorder logs it once and the call goes on
                self.recording_dir.mkdir(parents=True, exist_ok=True)
            record_path = str(self.recording_dir / f"{attempt.attempt_id}.wav")
        if self.attempts is not None:
            return await self._attempt_elsewhere(attempt, borrower, invite_wall, caller_id, record_path)
        if self.placer is None:
            raise RuntimeError("the dialer has neither a call placer nor an attempt placer")
        try:
            call = await self.placer.dial(
                attempt.phone, attempt.trunk, record_path=record_path, max_seconds=self.max_call_seconds,
                caller_id=caller_id or None,
            )
        except EndpointBusy:
            raise
        except DialFailure as failure:
            return self._failed_record(attempt, borrower, failure.disposition, failure.sip_code, failure.reason,
                                       invite_wall, failure.call_id or None, failure.timings)
        except Exception as exc:  # the endpoint itself broke: a trunk problem, retried with backoff
            log_event(log, "campaign.dial_error", logging.WARNING, attempt=attempt.attempt_id, error=repr(exc))
            return self._failed_record(attempt, borrower, "trunk_error", None, f"dial raised {exc!r}", invite_wall,
                                       None, None)
        if attempt.attempt_id in self.live_states:
            self.live_states[attempt.attempt_id] = (LIVE_TALKING, self.reactor.seconds())
        if self.runner is None:
            return self._failed_record(attempt, borrower, "answered", 200, "no call runner configured", invite_wall,
                                       str(getattr(call, "call_id", "")) or None, None, hang=call)
        person = Borrower.from_dict(borrower.data)
        segment = self.segments.get(borrower.segment or "")
        override = self.script_set_for(attempt, borrower) if self.script_set_for is not None else None
        if override is not None and segment is not None:
            segment = dataclasses.replace(segment, script_set=override)
        try:
            return await self.runner.run(call, person, segment, attempt.attempt_id)
        except Exception as exc:
            log_event(log, "campaign.session_error", logging.ERROR, attempt=attempt.attempt_id, error=repr(exc))
            return self._failed_record(attempt, borrower, "answered", 200, f"session failed: {exc!r}", invite_wall,
                                       str(getattr(call, "call_id", "")) or None, None, hang=call)

    async def _attempt_elsewhere(
        self, attempt: AttemptStart, borrower: BorrowerState, invite_wall: float, caller_id: str,
        record_path: str | None,
    ) -> CallRecord:
        assert self.attempts is not None
        request = AttemptRequest(
            attempt_id=attempt.attempt_id, target=attempt.phone, trunk=attempt.trunk, caller_id=caller_id or None,
            max_seconds=self.max_call_seconds, record_path=record_path, borrower=dict(borrower.data),
            segment=borrower.segment,
            script_set=self.script_set_for(attempt, borrower) if self.script_set_for is not None else None,
        )
        try:
            return await self.attempts.place_attempt(request)
        except (EndpointBusy, AttemptLost):
            raise
        except DialFailure as failure:
            return self._failed_record(attempt, borrower, failure.disposition, failure.sip_code, failure.reason,
                                       invite_wall, failure.call_id or None, failure.timings)
        except Exception as exc:
            log_event(log, "campaign.dial_error", logging.WARNING, attempt=attempt.attempt_id, error=repr(exc))
            return self._failed_record(attempt, borrower, "trunk_error", None, f"placing raised {exc!r}", invite_wall,
                                       None, None)

    def _failed_record(
        self, attempt: AttemptStart, borrower: BorrowerState, disposition: str, sip_code: int | None, reason: str,
        invite_wall: float, call_id: str | None, timings: Any, hang: Any = None,
    ) -> CallRecord:
        if hang is not None:
            hangup = getattr(hang, "hangup", None)
            if callable(hangup):
                d = hangup()
                if isinstance(d, Deferred):
                    d.addErrback(lambda f: None)
        now = self.reactor.seconds()
        return CallRecord(
            call_id=call_id or f"{attempt.attempt_id}-call",
            borrower_id=borrower.borrower_id,
            attempt_id=attempt.attempt_id,
            trunk=attempt.trunk,
            script_set=borrower.script_set,
            disposition=disposition,
            sip_code=sip_code,
            sip_reason=reason,
            invite_sent_at=getattr(timings, "invite_sent_at", None) or invite_wall,
            ringing_at=getattr(timings, "ringing_at", None),
            answered_at=getattr(timings, "answered_at", None) or (now if disposition == "answered" else None),
            ended_at=getattr(timings, "ended_at", None) or now,
            hangup_by="bot" if hang is not None else None,
            end_reason=reason,
            recording=None,
            outcome=None,
        )


"""Fakes for the two seams of the dialer (placing a call, running an answered call), driven by a Clock."""

from __future__ import annotations

import datetime as dt
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from dialogue.borrower import Borrower
from dialogue.segments import Segment
from session.record import CallRecord, TurnRecord
from telephony.dispositions import DialFailure, EndpointBusy

SIP_CODES = {"busy": 486, "no_answer": 480, "rejected": 603, "invalid_number": 404, "trunk_error": 503}


@dataclass
class FakeCall:
    call_id: str
    target: str
    hung_up: bool = False
    on_end: Callable[[FakeCall], None] | None = None

    def hangup(self) -> Deferred[None]:
        if not self.hung_up and self.on_end is not None:
            self.on_end(self)
        self.hung_up = True
        d: Deferred[None] = Deferred()
        d.callback(None)
        return d


@dataclass
class FakePlacer:
    """Rings for `ring_s` of clock time, then answers or fails as `script(target, n)` says.

    With `slots` set it behaves like `SipEndpoint`'s slot table: a call holds a slot from the dial
    until it is hung up (or fails), and a dial with no free slot fails at once with `EndpointBusy`.
    """

    clock: Clock
    script: Callable[[str, int], str] = lambda target, n: "answered"
    ring_s: float = 5.0
    dials: list[tuple[float, str, str | None]] = field(default_factory=list)
    caller_ids: list[str | None] = field(default_factory=list)
    slots: int | None = None
    refused: int = 0
    held: int = 0

    @property
    def max_calls(self) -> int:
        return self.slots if self.slots is not None else 1_000_000

    @property
    def free_call_slots(self) -> int:
        return max(0, self.max_calls - self.held)

    def _release(self, _call: FakeCall | None = None) -> None:
        self.held -= 1

    def dial(self, target: str, trunk: str | None = None, *, record_path: str | None = None,
             max_seconds: float | None = None, caller_id: str | None = None) -> Deferred[Any]:
        if self.free_call_slots < 1:
            self.refused += 1
            d_busy: Deferred[Any] = Deferred()
            d_busy.errback(EndpointBusy(f"endpoint is at its limit of {self.max_calls} simultaneous calls"))
            return d_busy
        self.held += 1
        n = sum(1 for _t, number, _tr in self.dials if number == target)
        self.dials.append((self.clock.seconds(), target, trunk))
        self.caller_ids.append(caller_id)
        result = self.script(target, n)
        d: Deferred[Any] = Deferred()
        call_id = f"call-{len(self.dials)}"

        def finish() -> None:
            if result == "answered":
                d.callback(FakeCall(call_id, target, on_end=self._release))
            else:
                self._release()
                d.errback(DialFailure(result, SIP_CODES.get(result), result))

        self.clock.callLater(self.ring_s, finish)
        return d


@dataclass
class FakeRunner:
    """Talks for `talk_s`, then ends with the outcome `outcome(borrower)` returns."""

    clock: Clock
    outcome: Callable[[Borrower], dict[str, Any]] = lambda b: {"disposition": "refused"}
    talk_s: float = 30.0
    runs: list[str] = field(default_factory=list)
    recording_dir: Path | None = None  # when set, each call leaves a short stereo WAV there
    script_sets: list[str | None] = field(default_factory=list)  # the segment's script set of each run

    def run(self, call: Any, borrower: Borrower, segment: Segment | None, attempt_id: str) -> Deferred[CallRecord]:
        self.runs.append(borrower.id)
        self.script_sets.append(segment.script_set if segment is not None else None)
        d: Deferred[CallRecord] = Deferred()
        start = self.clock.seconds()

        def finish() -> None:
            end = self.clock.seconds()
            try:
                outcome = self.outcome(borrower)
            except Exception as exc:  # a session that fails reports it through its Deferred
                d.errback(exc)
                return
            recording = None
            if self.recording_dir is not None:
                recording = str(self.recording_dir / f"{attempt_id}.wav")
                with wave.open(recording, "wb") as w:
                    w.setnchannels(2)
                    w.setsampwidth(2)
                    w.setframerate(8000)
                    w.writeframes(b"\x00\x01" * 2 * 800)
            call.hangup()  # the session hangs up when the conversation ends, freeing the slot
            d.callback(CallRecord(
                call_id=call.call_id, borrower_id=borrower.id, attempt_id=attempt_id, trunk=None,
                script_set=segment.script_set if segment else None, disposition="answered", sip_code=200,
                sip_reason="OK", invite_sent_at=start - 5, ringing_at=start - 4, answered_at=start, ended_at=end,
                hangup_by="bot", end_reason="completed", recording=recording, outcome=outcome,
                turns=(TurnRecord(0, None, None, "", 0, None, None, "opening", "hello", False, 100, 100, False,
                                  None, None, "opening"),),
                recognizer="sim",
            ))

        self.clock.callLater(self.talk_s, finish)
        return d


def borrower_row(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"B{i:03d}", "name": "张伟", "gender": "male", "phone": f"1380013{i:04d}", "amount_due": 3200.0,
        "overdue_days": 12, "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融",
        "risk_score": 620, "value_tier": "normal", "timezone": "Asia/Shanghai",
    }
    row.update(overrides)
    return row


def at_local(year: int, month: int, day: int, hour: int, minute: int = 0, zone: str = "Asia/Shanghai") -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp()


def run_for(clock: Clock, seconds: float, step: float = 1.0) -> None:
    """Advance the clock in small steps so LoopingCall ticks and call timers interleave as in real time."""
    end = clock.seconds() + seconds
    while clock.seconds() < end:
        clock.advance(min(step, end - clock.seconds()))

"""Voice-to-voice latency: end of the borrower's speech (VAD) to the first bot frame handed to the media bridge.

The two ends of the measurement live on different clocks: VAD reports speech end in *call time*
(seconds since answer, from the media clock), while the playback queue tells the reactor when it
handed the first frame out. `CallClock` maps reactor time onto call time using the frames themselves,
so a reactor that was busy when a frame arrived cannot make the bot look faster than it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


class CallClock:
    """Reactor seconds -> call seconds, learned from (frame call time, reactor arrival time) pairs.

    A frame can only arrive on the reactor *after* the media clock stamped it, so the smallest
    observed offset is the best estimate of the true one (queueing delays only add to it).
    """

    def __init__(self) -> None:
        self._offset: float | None = None

    def observe(self, call_t: float, reactor_t: float) -> None:
        offset = reactor_t - call_t
        if self._offset is None or offset < self._offset:
            self._offset = offset

    def anchor(self, reactor_t: float) -> None:
        """Call time 0 is now (used at answer, before any frame arrived)."""
        if self._offset is None:
            self._offset = reactor_t

    def call_time(self, reactor_t: float) -> float:
        if self._offset is None:
            raise RuntimeError("no frame observed yet: call time is unknown")
        return reactor_t - self._offset


@dataclass(frozen=True)
class TurnLatencyObserved:
    """Reported upward (e.g. to `/metrics`) each time a bot answer starts playing."""

    call_id: str
    turn_index: int
    latency_ms: float
    asr_latency_ms: float | None


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    pos = (len(data) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> LatencySummary:
        data = list(values_ms)
        return cls(
            count=len(data),
            p50_ms=percentile(data, 50),
            p95_ms=percentile(data, 95),
            max_ms=max(data) if data else math.nan,
        )

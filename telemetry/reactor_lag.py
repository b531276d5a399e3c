"""How late the coordinator's reactor runs a short timer: the stall its thread caused meanwhile.

Why: everything the coordinator does (dial pacing, worker heartbeats, the API, with `serve --workers 0`
the calls' own frames) waits while its one reactor thread is busy elsewhere: a store write, an import,
a slow log sink. A 50 ms timer that fires late by X was stalled by X. `/metrics` gets the lateness of
every firing as the histogram `voicebot_reactor_lag_seconds` and the worst of the last 10 s as the
gauge `voicebot_reactor_lag_max_seconds` (bench/serve_load.py --import-rows reads both).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from telemetry.metrics import Registry

INTERVAL_S = 0.05
WINDOW_S = 10.0
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ReactorLag:
    def __init__(self, reactor: Any, metrics: Registry, interval: float = INTERVAL_S, window: float = WINDOW_S) -> None:
        self.reactor = reactor
        self.interval = interval
        self.window = window
        self.histogram = metrics.histogram(
            "voicebot_reactor_lag_seconds", f"How late the coordinator's reactor ran a {interval * 1000:.0f} ms timer "
            "(how long its thread was busy elsewhere)", buckets=LAG_BUCKETS)
        self.worst = metrics.gauge("voicebot_reactor_lag_max_seconds",
                                   f"Worst voicebot_reactor_lag_seconds of the last {window:.0f} s")
        self._recent: deque[tuple[float, float]] = deque()  # (when, lag)
        self._due = 0.0
        self._call: Any = None  # the pending IDelayedCall

    def start(self) -> None:
        if self._call is None:
            self._schedule()

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _schedule(self) -> None:
        self._due = self.reactor.seconds() + self.interval
        self._call = self.reactor.callLater(self.interval, self._fired)

    def _fired(self) -> None:
        now = self.reactor.seconds()
        self.observe(now, now - self._due)
        self._schedule()

    def observe(self, now: float, lag: float) -> None:
        lag = max(0.0, lag)  # a wall clock stepped back: no negative stall
        self.histogram.observe(lag)
        self._recent.append((now, lag))
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
        self.worst.set(max(x for _, x in self._recent))

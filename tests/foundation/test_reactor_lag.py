"""telemetry.reactor_lag: a stalled reactor thread shows as a late timer in /metrics, then ages out."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from telemetry.metrics import Registry
from telemetry.reactor_lag import ReactorLag


def _run(clock: Clock, seconds: float, step: float = 0.05) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)


def test_a_stall_is_observed_as_lag_and_the_worst_of_the_window_is_a_gauge() -> None:
    clock, metrics = Clock(), Registry()
    lag = ReactorLag(clock, metrics)
    lag.start()
    _run(clock, 2.0)
    assert lag.worst.value() == 0.0 and lag.histogram.count() == 40
    clock.advance(0.8)  # the thread was busy for 0.8 s: the 50 ms timer fires 0.75 s late
    assert lag.worst.value() == pytest.approx(0.75)
    text = metrics.render()
    assert 'voicebot_reactor_lag_seconds_bucket{le="0.5"} 40' in text
    assert 'voicebot_reactor_lag_seconds_bucket{le="1"} 41' in text
    _run(clock, 5.0)
    assert lag.worst.value() == pytest.approx(0.75)  # still in the last 10 s
    _run(clock, 6.0)
    assert lag.worst.value() == 0.0
    lag.stop()
    assert clock.getDelayedCalls() == []


def test_a_clock_stepped_back_is_no_negative_lag() -> None:
    lag = ReactorLag(Clock(), Registry())
    lag.observe(100.0, -3.0)
    assert lag.worst.value() == 0.0

"""telemetry.metrics renders valid Prometheus text: labels escaped, histogram buckets cumulative."""

from __future__ import annotations

import pytest

from telemetry.metrics import Registry


def test_counter_gauge_histogram_text_format() -> None:
    """Counters and gauges print one sample per label set; histograms print cumulative buckets, sum, count."""
    r = Registry()
    calls = r.counter("calls_total", "Calls", ["disposition"])
    calls.inc(disposition="busy")
    calls.inc(2, disposition='we"ird\n')
    live = r.gauge("live", "Live calls")
    live.inc()
    live.inc()
    live.dec()
    h = r.histogram("lat_seconds", "Latency", buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 0.7, 3.0):
        h.observe(v)
    text = r.render()
    assert '# TYPE calls_total counter\n' in text
    assert 'calls_total{disposition="busy"} 1\n' in text
    assert 'calls_total{disposition="we\\"ird\\n"} 2\n' in text
    assert "live 1\n" in text
    assert 'lat_seconds_bucket{le="0.1"} 1\nlat_seconds_bucket{le="1"} 3\nlat_seconds_bucket{le="+Inf"} 4\n' in text
    assert "lat_seconds_sum 4.25\nlat_seconds_count 4\n" in text


def test_registry_shares_by_name_and_refuses_misuse() -> None:
    """The same name gives the same metric; a kind clash, wrong labels or a negative counter step raise."""
    r = Registry()
    assert r.counter("x_total", "X") is r.counter("x_total", "X")
    with pytest.raises(ValueError):
        r.gauge("x_total", "X")
    c = r.counter("y_total", "Y", ["a"])
    with pytest.raises(ValueError):
        c.inc(b="1")
    with pytest.raises(ValueError):
        c.inc(-1, a="1")

"""`[workers]` in server.toml: the call-worker processes `serve` runs its calls in.

The pjsua2 wheel is compiled with PJSUA_MAX_CALLS = 4 and no registry ships the sources to rebuild
it, so one process carries at most four calls; `serve` scales by running several worker processes,
each with its own endpoint. The coordinator never loads pjsua2, so the compiled figure is a constant
here; each worker also reports its endpoint's real `max_calls` and the pool takes the smaller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from config.toml_reader import Table

COMPILED_MAX_CALLS = 4  # PJSUA_MAX_CALLS of the pjsua2-python wheel (telephony.endpoint.SipEndpoint.max_calls)
MAX_WORKERS = 64


def default_worker_count() -> int:
    """Enough for the host's cores, at least 2 (a second worker keeps calls going while one restarts)."""
    return max(2, min(MAX_WORKERS, os.cpu_count() or 1))


@dataclass(frozen=True)
class WorkersSettings:
    count: int = field(default_factory=default_worker_count)
    calls_per_worker: int = COMPILED_MAX_CALLS
    drain_seconds: float = 30.0  # SIGTERM: calls in progress may finish this long, then are hung up ("shutdown")
    heartbeat_timeout_s: float = 3.0  # a worker silent this long is killed and replaced

    @property
    def total_slots(self) -> int:
        return self.count * self.calls_per_worker


def parse_workers(t: Table) -> WorkersSettings:
    t.reject_unknown(["count", "calls_per_worker", "drain_seconds", "heartbeat_timeout_s"])
    d = WorkersSettings()
    return WorkersSettings(
        count=t.integer("count", d.count, min=1, max=MAX_WORKERS),
        calls_per_worker=t.integer("calls_per_worker", d.calls_per_worker, min=1, max=COMPILED_MAX_CALLS),
        drain_seconds=t.number("drain_seconds", d.drain_seconds, min=0, max=3600),
        heartbeat_timeout_s=t.number("heartbeat_timeout_s", d.heartbeat_timeout_s, min=0.5, max=60),
    )

"""WorkerPool with fake worker processes (real AMP boxes) on a task.Clock: slots, faults, restarts, drain."""

from __future__ import annotations

import itertools

import pytest
from fakes import FakeSpawner, record
from twisted.internet import task
from twisted.python.failure import Failure

from campaign.dialer import AttemptLost, AttemptRequest
from config.workers_config import WorkersSettings
from telemetry.metrics import Registry
from telephony.dispositions import DialFailure, EndpointBusy
from workers.pool import WorkerPool
from workers.protocol import failure_reply


def _request(n: int) -> AttemptRequest:
    return AttemptRequest(attempt_id=f"att-{n}", target="+8613800130001", trunk="t", caller_id=None, max_seconds=300,
                          record_path=f"/tmp/att-{n}.wav", borrower={"id": f"K{n}"}, segment=None)


def _pool(count: int = 2, **spawner: bool) -> tuple[WorkerPool, FakeSpawner, task.Clock, Registry]:
    clock, metrics = task.Clock(), Registry()
    fakes = FakeSpawner(clock, **spawner)
    pool = WorkerPool(WorkersSettings(count=count, drain_seconds=30), clock, fakes, metrics=metrics,
                      log_sink=lambda _b: None)
    return pool, fakes, clock, metrics


def _results(d: object) -> list[object]:
    out: list[object] = []
    d.addBoth(out.append)  # type: ignore[attr-defined]
    return out


def _gauge(metrics: Registry, name: str) -> float:
    return metrics.gauge(name, "").value()


def test_capacity_is_the_free_slots_of_live_workers_and_never_exceeded() -> None:
    """Two workers x 4 slots: 8 attempts go out, spread over both; the 9th is refused before any SIP (EndpointBusy)."""
    pool, fakes, clock, metrics = _pool()
    started = _results(pool.start())
    clock.advance(0)
    assert started == [None] and pool.max_calls == 8 and pool.free_call_slots == 8
    pending = [_results(pool.place_attempt(_request(n))) for n in range(8)]
    clock.advance(0)
    assert pool.free_call_slots == 0 and _gauge(metrics, "voicebot_call_slots_in_use") == 8
    assert [len(p.side.calls) for p in fakes.processes] == [4, 4]
    with pytest.raises(EndpointBusy):
        pool.place_attempt(_request(8))
    fakes.processes[0].side.finish("att-0")
    clock.advance(0)
    assert pending[0][0].attempt_id == "att-0" and pool.free_call_slots == 1  # type: ignore[attr-defined]
    assert _gauge(metrics, "voicebot_workers_up") == 2 and _gauge(metrics, "voicebot_call_slots") == 8


def test_answered_record_and_dial_failure_cross_back_typed_and_feed_the_metrics() -> None:
    """A record comes back equal to the worker's; an unanswered dial is a DialFailure; v2v lands in our registry."""
    pool, fakes, clock, metrics = _pool(count=1)
    pool.start()
    clock.advance(0)
    answered, failed = _results(pool.place_attempt(_request(1))), _results(pool.place_attempt(_request(2)))
    clock.advance(0)
    side = fakes.processes[0].side
    side.finish("att-1")
    side.finish("att-2", failure_reply(DialFailure("busy", 486, "Busy Here", call_id="c2")))
    clock.advance(0)
    assert answered == [record("att-1")]
    assert isinstance(failed[0], Failure) and failed[0].check(DialFailure)
    busy = failed[0].value
    assert isinstance(busy, DialFailure) and (busy.disposition, busy.sip_code) == ("busy", 486)
    assert metrics.histogram("voicebot_voice_to_voice_seconds", "").count() == 1
    assert metrics.counter("voicebot_sessions_ended_total", "", ["reason"]).value(reason="completed") == 1


def test_silent_worker_is_killed_after_3_s_its_attempts_lost_and_it_is_replaced() -> None:
    """A worker that stops answering heartbeats: SIGKILL after 3 s, its attempt is worker_lost, a new one comes up."""
    pool, fakes, clock, metrics = _pool(count=2)
    pool.start()
    clock.advance(0)
    mine = _results(pool.place_attempt(_request(1)))
    clock.advance(0)
    victim = next(p for p in fakes.processes if p.side.calls)
    victim.answers_heartbeats = False
    clock.advance(1.0)
    clock.advance(1.0)
    assert victim.alive
    for _ in range(3):
        clock.advance(1.0)
    assert victim.signals == ["KILL"] and not victim.alive
    assert isinstance(mine[0], Failure) and mine[0].check(AttemptLost) and str(mine[0].value) == "worker_lost"
    clock.advance(1.0)  # backoff
    assert len(fakes.live()) == 2 and pool.max_calls == 8
    assert metrics.counter("voicebot_worker_restarts_total", "").value() == 1
    assert [w.restarts for w in pool.snapshot()].count(1) == 1


def test_a_stall_of_the_coordinator_itself_kills_no_worker() -> None:
    """The coordinator's reactor blocked 10 s: the workers' unread replies are no evidence; nobody is killed."""
    pool, fakes, clock, _metrics = _pool(count=2)
    pool.start()
    clock.advance(0)
    clock.advance(1.0)
    clock.advance(10.0)
    clock.advance(1.0)
    assert all(p.alive for p in fakes.processes) and not any(p.signals for p in fakes.processes)


def test_worker_crashing_at_start_up_is_retried_with_doubling_backoff_reported_once_per_step() -> None:
    """Every start fails: the first round fails loudly, then one retry per 0.5, 1, 2, 4 ... s (capped at 30)."""
    pool, fakes, clock, _metrics = _pool(count=1, crash_at_start=True)
    started = _results(pool.start())
    clock.advance(0)
    assert isinstance(started[0], Failure) and "none of the 1 call workers" in started[0].getErrorMessage()
    spawn_times = [0.0]
    for _ in range(200):
        clock.advance(0.25)
        if len(fakes.processes) > len(spawn_times):
            spawn_times.append(clock.seconds())
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(spawn_times)]
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert pool.snapshot()[0].restarts == len(fakes.processes)


def test_drain_refuses_new_calls_then_hangs_up_with_reason_shutdown_at_the_deadline() -> None:
    """Drain: no new attempt is accepted; a call still up after drain_seconds gets Cancel(reason='shutdown')."""
    pool, fakes, clock, _metrics = _pool(count=1)
    pool.start()
    clock.advance(0)
    pending = _results(pool.place_attempt(_request(1)))
    clock.advance(0)
    drained = _results(pool.drain(5.0))
    clock.advance(0)
    side = fakes.processes[0].side
    assert side.drained and pool.free_call_slots == 0
    with pytest.raises(EndpointBusy):
        pool.place_attempt(_request(2))
    for _ in range(4):
        clock.advance(1.0)
    assert side.cancelled == [] and drained == []
    clock.advance(1.0)
    clock.advance(0.5)
    assert side.cancelled == [("att-1", "shutdown")] and fakes.processes[0].alive
    side.finish("att-1")
    clock.advance(0.2)
    clock.advance(0.2)
    assert drained == [None] and pending[0] == record("att-1")
    stopped = _results(pool.stop())
    clock.advance(0)
    assert stopped == [None] and not fakes.processes[0].alive


def test_frame_counters_from_heartbeats_are_added_once() -> None:
    """Workers report cumulative frame totals; the coordinator adds only what is new since the last beat."""
    pool, fakes, clock, metrics = _pool(count=1)
    pool.start()
    clock.advance(0)
    proc = fakes.processes[0]
    proc.frames, proc.frames_late = 500, 3
    proc.bot_frames, proc.bot_frames_late = 700, 5
    clock.advance(1.0)
    clock.advance(1.0)
    proc.frames, proc.bot_frames, proc.bot_frames_late = 800, 1000, 9
    clock.advance(1.0)
    assert metrics.counter("voicebot_borrower_frames_total", "").value() == 800
    assert metrics.counter("voicebot_borrower_frames_late_total", "").value() == 3
    assert metrics.counter("voicebot_bot_frames_total", "").value() == 1000
    assert metrics.counter("voicebot_bot_frames_late_total", "").value() == 9


def test_api_workers_lists_each_worker_and_the_line_totals() -> None:
    """GET /api/workers's handler: per-worker pid, SIP port, slots, in use, calls done, restarts, state; totals."""
    from api.web import CampaignApi
    from config.campaign_config import HttpSettings

    pool, _fakes, clock, metrics = _pool(count=2)
    pool.start()
    clock.advance(0)
    pool.place_attempt(_request(1))
    clock.advance(0)
    resource = CampaignApi(None, HttpSettings(), metrics)  # type: ignore[arg-type]
    assert resource.list_workers(None).body["mode"] == "single_process"  # type: ignore[arg-type]
    resource.call_workers = pool
    body = resource.list_workers(None).body  # type: ignore[arg-type]
    assert (body["mode"], body["workers_up"], body["call_slots"], body["call_slots_in_use"]) == ("workers", 2, 8, 1)
    assert [sorted(w) for w in body["workers"]] == [sorted(["index", "pid", "sip_port", "slots", "in_use",
                                                            "calls_done", "restarts", "state"])] * 2
    assert {w["state"] for w in body["workers"]} == {"up"} and len({w["sip_port"] for w in body["workers"]}) == 2

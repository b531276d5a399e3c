"""The coordinator's pool of call workers: spawn, watch, replace, place attempts, drain.

`WorkerPool` is both seams the dialer needs when calls run elsewhere: `campaign.dialer.AttemptPlacer`
(whole attempts, one AMP `PlaceCall` each) and `CallCapacity` (free slots of live workers), so the
dialer never knows where a call runs and never places more calls than there are free slots.

Faults: a worker that exits, is killed, or is silent for `heartbeat_timeout_s` is (killed and)
replaced after a backoff that doubles while it keeps failing early (reported once per step); its
in-flight attempts fail with `AttemptLost("worker_lost")`, which the scheduler stores as lost.
We do not use `ampoule`: its pool hands any command to any idle child, while a call worker has
state the coordinator must see (its SIP port, its slots and their use, per-worker restarts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from twisted.internet import protocol, task
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.protocols import amp
from twisted.python.failure import Failure

from campaign.dialer import AttemptLost, AttemptRequest
from config.workers_config import WorkersSettings
from session.inbound import BUSY_HERE, TEMPORARILY_UNAVAILABLE, InboundDesk, InboundRefusal, InboundRequest
from session.record import CallRecord
from telemetry.logging import log_event
from telemetry.metrics import REGISTRY, Registry
from telephony.dispositions import EndpointBusy
from workers.protocol import (
    Cancel,
    Drain,
    Heartbeat,
    InboundCall,
    InboundEnded,
    PlaceCall,
    Ready,
    WorkerBusy,
    admission_reply,
    record_from_reply,
)
from workers.recordings import repair_wav_sizes

log = logging.getLogger(__name__)

AMP_TO_CHILD_FD = 3  # the child's AMP input (cli.call_worker.AMP_IN_FD)
AMP_FROM_CHILD_FD = 4  # the child's AMP output
WORKER_LOST = "worker_lost"


class WorkerSpawner(Protocol):
    """Starts worker process `index` attached to `process_protocol` (fds 3/4 carry AMP)."""

    def spawn(self, index: int, sip_port: int, process_protocol: protocol.ProcessProtocol) -> Any: ...


@dataclass(frozen=True)
class WorkerSnapshot:
    """One worker as `/api/workers` shows it."""

    index: int
    pid: int | None
    sip_port: int | None
    slots: int
    in_use: int
    calls_done: int
    restarts: int
    state: str  # starting | up | draining | backoff | stopped

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "pid": self.pid, "sip_port": self.sip_port, "slots": self.slots,
                "in_use": self.in_use, "calls_done": self.calls_done, "restarts": self.restarts, "state": self.state}


@dataclass
class _Worker:
    index: int
    state: str = "starting"
    process: Any = None
    link: _WorkerLink | None = None
    pid: int | None = None
    sip_port: int | None = None
    slots: int = 0
    calls_done: int = 0
    restarts: int = 0
    failures_in_a_row: int = 0
    up_since: float | None = None
    spawned_at: float = 0.0
    last_heard: float = 0.0
    killed: bool = False
    pending: dict[str, Deferred[CallRecord]] = field(default_factory=dict)
    record_paths: dict[str, str] = field(default_factory=dict)  # attempt id -> its recording (if any)
    lost_on_pipe_close: int = 0  # attempts already failed as lost when its AMP pipe closed
    frame_totals: dict[str, int] = field(default_factory=dict)  # cumulative heartbeat figures, by name
    heartbeat_out: bool = False
    restart_call: Any = None

    @property
    def in_use(self) -> int:
        return len(self.pending)


class _PipeTransport:
    """What AMP writes to: the child's fd 3."""

    def __init__(self, link: _WorkerLink) -> None:
        self.link = link
        self.disconnecting = False

    def write(self, data: bytes) -> None:
        process: Any = self.link.transport
        if process is not None and not self.disconnecting:
            process.writeToChild(AMP_TO_CHILD_FD, data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        process: Any = self.link.transport
        if process is not None and not self.disconnecting:
            self.disconnecting = True
            process.closeChildFD(AMP_TO_CHILD_FD)

    def getPeer(self) -> str:
        return f"call-worker-{self.link.worker.index}"

    def getHost(self) -> str:
        return "coordinator"


class _CoordinatorSide(amp.AMP):
    def __init__(self, link: _WorkerLink) -> None:
        super().__init__()
        self.link = link

    @Ready.responder
    def ready(self, pid: int, sip_port: int, slots: int) -> dict[str, Any]:
        self.link.pool._worker_ready(self.link.worker, pid, sip_port, slots)
        return {}

    @InboundCall.responder
    def inbound_call(self, caller_number: str, dialed_number: str, call_id: str,
                     trunk: str | None = None) -> Deferred[dict[str, Any]]:
        request = InboundRequest(trunk, caller_number, dialed_number, call_id)
        return self.link.pool._inbound_call(self.link.worker, request)

    @InboundEnded.responder
    def inbound_ended(self, attempt_id: str, record: dict[str, Any]) -> dict[str, bool]:
        return {"known": self.link.pool._inbound_ended(self.link.worker, attempt_id, record)}


class _WorkerLink(protocol.ProcessProtocol):
    """One spawned process: AMP on fds 3/4, its stdout/stderr passed on to ours."""

    def __init__(self, pool: WorkerPool, worker: _Worker, log_sink: Callable[[bytes], None]) -> None:
        self.pool = pool
        self.worker = worker
        self.log_sink = log_sink
        self.amp = _CoordinatorSide(self)

    def connectionMade(self) -> None:
        process: Any = self.transport
        process.closeStdin()
        pipe: Any = _PipeTransport(self)
        self.amp.makeConnection(pipe)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == AMP_FROM_CHILD_FD:
            self.amp.dataReceived(data)
        else:
            self.log_sink(data)

    def childConnectionLost(self, childFD: int) -> None:
        if childFD == AMP_FROM_CHILD_FD:
            self.amp.connectionLost(Failure(ConnectionError("call worker closed its AMP pipe")))

    def processEnded(self, reason: Failure) -> None:
        self.pool._worker_ended(self.worker, reason)


def _stderr_sink(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()


@dataclass
class ProcessSpawner:
    """Production spawner: `python -m cli.call_worker` with the server's config file."""

    reactor: Any
    config_path: Path
    count: int
    slots: int
    no_session: bool = False

    def spawn(self, index: int, sip_port: int, process_protocol: protocol.ProcessProtocol) -> Any:
        argv = [sys.executable, "-m", "cli.call_worker", "--config", str(self.config_path),
                "--sip-port", str(sip_port), "--index", str(index), "--count", str(self.count),
                "--slots", str(self.slots)]
        if self.no_session:
            argv.append("--no-session")
        return self.reactor.spawnProcess(
            process_protocol, sys.executable, argv, env=dict(os.environ),
            childFDs={0: "w", 1: "r", 2: "r", AMP_TO_CHILD_FD: "w", AMP_FROM_CHILD_FD: "r"},
        )


class WorkerPool:
    """Supervises `settings.count` call workers and places attempts on the one with most free slots."""

    def __init__(
        self, settings: WorkersSettings, reactor: Any, spawner: WorkerSpawner, *, base_sip_port: int = 0,
        metrics: Registry = REGISTRY, heartbeat_interval_s: float = 1.0, startup_timeout_s: float = 120.0,
        log_sink: Callable[[bytes], None] = _stderr_sink,
    ) -> None:
        self.settings = settings
        self.reactor = reactor
        self.spawner = spawner
        self.base_sip_port = base_sip_port
        self.heartbeat_interval_s = heartbeat_interval_s
        self.startup_timeout_s = startup_timeout_s
        self.log_sink = log_sink
        self.workers = [_Worker(i) for i in range(settings.count)]
        self.draining = False
        self.stopping = False
        self.inbound: InboundDesk | None = None  # who admits the workers' inbound calls (the coordinator's desk)
        self._first_round: Deferred[None] | None = None
        self._beat: task.LoopingCall | None = None
        self._last_tick: float | None = None
        self._ended_waiters: dict[int, list[Deferred[None]]] = {}
        self._up = metrics.gauge("voicebot_workers_up", "Call workers that are up")
        self._slots = metrics.gauge("voicebot_call_slots", "Call slots of the live call workers")
        self._in_use = metrics.gauge("voicebot_call_slots_in_use", "Call slots in use across the call workers")
        self._restarts = metrics.counter("voicebot_worker_restarts_total", "Call workers replaced after exiting")
        self._v2v = metrics.histogram(
            "voicebot_voice_to_voice_seconds",
            "End of borrower speech (VAD) to the first bot frame handed to the media bridge")
        self._asr = metrics.histogram("voicebot_asr_final_seconds",
                                      "End of borrower speech (VAD) to the final transcript")
        self._ended = metrics.counter("voicebot_sessions_ended_total", "Answered calls by end reason", ["reason"])
        # Heartbeat figure -> the counter its deltas are added to.
        self._frame_counters = {
            "frames": metrics.counter("voicebot_borrower_frames_total", "Borrower frames handled by sessions"),
            "frames_late": metrics.counter(
                "voicebot_borrower_frames_late_total",
                "Borrower frames that reached the session over 40 ms later than the best-observed lag"),
            "bot_frames": metrics.counter("voicebot_bot_frames_total", "Bot frames handed to the media bridge"),
            "bot_frames_late": metrics.counter(
                "voicebot_bot_frames_late_total",
                "Bot frames handed to the media bridge over 20 ms after their deadline"),
        }
        self._publish()

    # -- CallCapacity --------------------------------------------------------------------------
    @property
    def max_calls(self) -> int:
        return sum(w.slots for w in self.workers if w.state in ("up", "draining"))

    @property
    def configured_calls(self) -> int:
        """Slots once every worker is up (the start-up trunk warning uses this)."""
        return self.settings.total_slots

    @property
    def free_call_slots(self) -> int:
        if self.draining or self.stopping:
            return 0
        return sum(max(0, w.slots - w.in_use) for w in self.workers if w.state == "up")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Deferred[None]:
        """Spawn every worker; fires once each is up or has failed once (fails if none came up)."""
        self._first_round = Deferred()
        for worker in self.workers:
            self._spawn(worker)
        self._last_tick = self.reactor.seconds()
        self._beat = task.LoopingCall(self._heartbeat)
        self._beat.clock = self.reactor
        self._beat.start(self.heartbeat_interval_s, now=False)
        return self._first_round

    def _sip_port(self, worker: _Worker) -> int:
        return 0 if self.base_sip_port == 0 else self.base_sip_port + worker.index

    def _spawn(self, worker: _Worker) -> None:
        worker.state = "starting"
        worker.restart_call = None
        worker.killed = False
        worker.pid = None
        worker.heartbeat_out = False
        worker.spawned_at = worker.last_heard = self.reactor.seconds()
        link = _WorkerLink(self, worker, self.log_sink)
        worker.link = link
        try:
            process = self.spawner.spawn(worker.index, self._sip_port(worker), link)
        except Exception as exc:  # e.g. fork failed: treat as a start-up crash
            log_event(log, "workers.spawn_failed", logging.ERROR, worker=worker.index, error=repr(exc))
            self._worker_ended(worker, Failure(exc))
            return
        if worker.link is link:  # (not already ended)
            worker.process = process
            worker.pid = worker.pid or getattr(process, "pid", None)

    def _worker_ready(self, worker: _Worker, pid: int, sip_port: int, slots: int) -> None:
        worker.state = "draining" if self.draining else "up"
        worker.pid, worker.sip_port = pid, sip_port
        worker.slots = max(0, min(slots, self.settings.calls_per_worker))
        worker.up_since = worker.last_heard = self.reactor.seconds()
        log_event(log, "workers.up", worker=worker.index, pid=pid, sip_port=sip_port, slots=worker.slots,
                  restarts=worker.restarts)
        self._publish()
        self._check_first_round()

    def _check_first_round(self) -> None:
        first = self._first_round
        if first is None or first.called:
            return
        if any(w.state == "starting" for w in self.workers):
            return
        if any(w.state == "up" for w in self.workers):
            first.callback(None)
        else:
            first.errback(RuntimeError(f"none of the {len(self.workers)} call workers could start (see the log)"))

    def _worker_ended(self, worker: _Worker, reason: Failure) -> None:
        was = worker.state
        now = self.reactor.seconds()
        worker.state = "stopped" if self.stopping else "backoff"
        worker.link = None
        worker.process = None
        lost = list(worker.pending.items())
        worker.pending.clear()
        for attempt_id, d in lost:
            log_event(log, "workers.attempt_lost", logging.WARNING, worker=worker.index, attempt=attempt_id)
            self._keep_partial_recording(worker.record_paths.pop(attempt_id, None))
            if not d.called:
                d.errback(AttemptLost(WORKER_LOST))
        worker.record_paths.clear()
        for waiter in self._ended_waiters.pop(worker.index, []):
            waiter.callback(None)
        self._publish()
        if self.stopping:
            return
        early = worker.up_since is None or now - worker.up_since < 10.0
        worker.failures_in_a_row = worker.failures_in_a_row + 1 if early or was == "starting" else 0
        delay = min(30.0, 0.5 * 2 ** max(0, worker.failures_in_a_row - 1)) if worker.failures_in_a_row else 0.2
        worker.up_since = None
        worker.restarts += 1
        self._restarts.inc()
        code = getattr(reason.value, "exitCode", None)
        sig = getattr(reason.value, "signal", None)
        log_event(log, "workers.restart", logging.WARNING, worker=worker.index, was=was, exit_code=code, signal=sig,
                  failures_in_a_row=worker.failures_in_a_row, retry_in_s=delay,
                  lost_attempts=len(lost) + worker.lost_on_pipe_close)
        worker.lost_on_pipe_close = 0
        worker.restart_call = self.reactor.callLater(delay, self._spawn, worker)
        if was == "starting":
            self._check_first_round()

    @staticmethod
    def _keep_partial_recording(path: str | None) -> None:
        """The dead worker never closed the WAV: declare the audio it wrote so the file plays (a few bytes)."""
        if path is None or not Path(path).is_file():
            return
        try:
            repair_wav_sizes(path)
        except (OSError, ValueError) as exc:
            log_event(log, "workers.recording_unrepaired", logging.WARNING, path=path, error=str(exc))

    def _kill(self, worker: _Worker, why: str) -> None:
        if worker.process is None or worker.killed:
            return
        worker.killed = True
        log_event(log, "workers.kill", logging.WARNING, worker=worker.index, pid=worker.pid, reason=why)
        try:
            worker.process.signalProcess("KILL")
        except Exception as exc:  # already gone: processEnded follows
            log_event(log, "workers.kill_failed", logging.WARNING, worker=worker.index, error=repr(exc))

    def _heartbeat(self) -> None:
        now = self.reactor.seconds()
        last, self._last_tick = self._last_tick, now
        if last is not None and now - last > 2 * self.heartbeat_interval_s:
            # Our own reactor was blocked (a slow store commit on a loaded disk): the workers' replies may
            # be waiting unread in the pipes, so this gap is no evidence against them.
            log_event(log, "workers.coordinator_stalled", logging.WARNING, seconds=round(now - last, 2))
            for worker in self.workers:
                worker.last_heard = max(worker.last_heard, now)
            return
        for worker in self.workers:
            if worker.link is None or worker.killed:
                continue
            if worker.state == "starting":
                if now - worker.spawned_at > self.startup_timeout_s:
                    self._kill(worker, f"not ready after {self.startup_timeout_s:.0f} s")
                continue
            if now - worker.last_heard > self.settings.heartbeat_timeout_s:
                self._kill(worker, f"silent for {now - worker.last_heard:.1f} s")
                continue
            if worker.heartbeat_out:
                continue
            worker.heartbeat_out = True
            d = worker.link.amp.callRemote(Heartbeat)
            d.addCallbacks(self._heard, self._not_heard, callbackArgs=(worker, worker.link), errbackArgs=(worker,))

    def _not_heard(self, failure: Failure, worker: _Worker) -> None:
        worker.heartbeat_out = False
        if worker.link is not None:
            log_event(log, "workers.heartbeat_failed", logging.WARNING, worker=worker.index,
                      error=failure.getErrorMessage())

    def _heard(self, figures: dict[str, Any], worker: _Worker, link: _WorkerLink) -> None:
        worker.heartbeat_out = False
        if worker.link is not link:
            return  # an answer from a process since replaced
        worker.last_heard = self.reactor.seconds()
        # Frame counters are cumulative per process: add what is new since the last beat.
        for name, counter in self._frame_counters.items():
            value, before = int(figures[name]), worker.frame_totals.get(name, 0)
            if value >= before:
                counter.inc(value - before)
            worker.frame_totals[name] = value

    # -- AttemptPlacer -------------------------------------------------------------------------
    def place_attempt(self, request: AttemptRequest) -> Deferred[CallRecord]:
        if self.draining or self.stopping:
            raise EndpointBusy("serve is shutting down: no new calls")
        live = [w for w in self.workers if w.state == "up" and w.link is not None and w.in_use < w.slots]
        if not live:
            raise EndpointBusy("every call slot of every call worker is in use")
        worker = max(live, key=lambda w: (w.slots - w.in_use, -w.index))
        assert worker.link is not None
        out: Deferred[CallRecord] = Deferred()
        worker.pending[request.attempt_id] = out
        if request.record_path is not None:
            worker.record_paths[request.attempt_id] = request.record_path
        self._publish()
        args: dict[str, Any] = {
            "attempt_id": request.attempt_id, "target": request.target, "borrower": request.borrower,
            "trunk": request.trunk, "caller_id": request.caller_id,
            "max_seconds": None if request.max_seconds is None else float(request.max_seconds),
            "record_path": request.record_path, "segment": request.segment, "script_set": request.script_set,
        }
        try:
            sent = worker.link.amp.callRemote(PlaceCall, **{k: v for k, v in args.items() if v is not None})
        except Exception:  # the request does not serialize: nothing was sent
            del worker.pending[request.attempt_id]
            worker.record_paths.pop(request.attempt_id, None)
            self._publish()
            raise
        sent.addCallbacks(self._replied, self._refused, callbackArgs=(worker, request, out),
                          errbackArgs=(worker, request, out))
        return out

    def _settle(self, worker: _Worker, request: AttemptRequest, out: Deferred[CallRecord]) -> bool:
        if worker.pending.get(request.attempt_id) is not out or out.called:
            return False  # already failed as lost when the worker went away
        del worker.pending[request.attempt_id]
        worker.record_paths.pop(request.attempt_id, None)
        worker.calls_done += 1
        self._publish()
        return True

    def _replied(self, reply: dict[str, Any], worker: _Worker, request: AttemptRequest,
                 out: Deferred[CallRecord]) -> None:
        if not self._settle(worker, request, out):
            return
        try:
            record = record_from_reply(reply)
        except Exception:
            out.errback()
            return
        self._observe(record)
        out.callback(record)

    def _refused(self, failure: Failure, worker: _Worker, request: AttemptRequest, out: Deferred[CallRecord]) -> None:
        recording = worker.record_paths.get(request.attempt_id)
        if not self._settle(worker, request, out):
            return
        if failure.check(WorkerBusy):
            worker.calls_done -= 1
            out.errback(EndpointBusy(f"call worker {worker.index}: {failure.getErrorMessage()}"))
        elif worker.link is None or failure.check(ConnectionError):  # its pipe closed: the worker died
            log_event(log, "workers.attempt_lost", logging.WARNING, worker=worker.index, attempt=request.attempt_id)
            worker.lost_on_pipe_close += 1
            self._keep_partial_recording(recording)
            out.errback(AttemptLost(WORKER_LOST))
        else:
            out.errback(failure)

    # -- inbound calls (issue 14) ----------------------------------------------------------------
    def _inbound_call(self, worker: _Worker, request: InboundRequest) -> Deferred[dict[str, Any]]:
        """A worker's trunk call rings: the desk decides; an admitted call holds a slot of that worker."""
        desk = self.inbound
        if desk is None:
            return succeed(admission_reply(InboundRefusal(TEMPORARILY_UNAVAILABLE, "inbound calls are not served")))
        if self.draining or self.stopping or worker.state != "up":
            return succeed(admission_reply(InboundRefusal(BUSY_HERE, "serve is shutting down")))
        if worker.in_use >= worker.slots:
            return succeed(admission_reply(InboundRefusal(BUSY_HERE, "every call slot of this worker is in use")))

        def decided(answer: Any) -> dict[str, Any]:
            if isinstance(answer, InboundRefusal):
                return admission_reply(answer)
            out: Deferred[CallRecord] = Deferred()
            worker.pending[answer.attempt_id] = out
            if answer.record_path is not None:
                worker.record_paths[answer.attempt_id] = answer.record_path
            self._publish()
            desk.settle(answer.attempt_id, out)
            return admission_reply(answer)

        return desk.admit(request).addCallback(decided)

    def _inbound_ended(self, worker: _Worker, attempt_id: str, data: dict[str, Any]) -> bool:
        out = worker.pending.get(attempt_id)
        if out is None or out.called:
            return False
        del worker.pending[attempt_id]
        worker.record_paths.pop(attempt_id, None)
        worker.calls_done += 1
        self._publish()
        try:
            record = CallRecord.from_dict(data)
        except Exception:
            out.errback()
            return True
        self._observe(record)
        out.callback(record)
        return True

    def _observe(self, record: CallRecord) -> None:
        """Per-call figures of the worker's session, into the coordinator's registry (one `/metrics`)."""
        if record.disposition != "answered":
            return
        self._ended.inc(reason=record.end_reason.split(":")[0])
        for turn in record.turns:
            if turn.latency_ms is not None:
                self._v2v.observe(turn.latency_ms / 1000.0)
            if turn.asr_latency_ms is not None:
                self._asr.observe(turn.asr_latency_ms / 1000.0)

    # -- shutdown ------------------------------------------------------------------------------
    def in_flight(self) -> int:
        return sum(w.in_use for w in self.workers)

    def drain(self, seconds: float | None = None) -> Deferred[None]:
        """No new calls; calls in progress may finish for `seconds`, then are hung up with reason `shutdown`."""
        limit = self.settings.drain_seconds if seconds is None else seconds
        self.draining = True
        for worker in self.workers:
            if worker.state == "up":
                worker.state = "draining"
            if worker.link is not None and worker.state == "draining":
                worker.link.amp.callRemote(Drain).addErrback(lambda _f: None)
        self._publish()
        log_event(log, "workers.draining", calls=self.in_flight(), seconds=limit)
        done: Deferred[None] = Deferred()
        deadline = self.reactor.seconds() + limit
        hung_up: list[bool] = []

        def check() -> None:
            if done.called:
                return
            if self.in_flight() == 0:
                done.callback(None)
                return
            now = self.reactor.seconds()
            if now >= deadline and not hung_up:
                hung_up.append(True)
                log_event(log, "workers.drain_timeout", logging.WARNING, calls=self.in_flight())
                for worker in self.workers:
                    for attempt_id in list(worker.pending):
                        if worker.link is not None:
                            worker.link.amp.callRemote(Cancel, attempt_id=attempt_id, reason="shutdown") \
                                .addErrback(lambda _f: None)
            if hung_up and now >= deadline + 15.0:
                done.callback(None)  # records that never came back stay pending: recovered as lost next start
                return
            self.reactor.callLater(0.1, check)

        check()
        return done

    def stop(self, grace_s: float = 10.0) -> Deferred[None]:
        """Close every worker's pipe (it hangs up and exits); SIGKILL what is still there after `grace_s`."""
        self.stopping = True
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        waits: list[Deferred[None]] = []
        for worker in self.workers:
            if worker.restart_call is not None and worker.restart_call.active():
                worker.restart_call.cancel()
            if worker.process is None:
                worker.state = "stopped"
                continue
            waiter: Deferred[None] = Deferred()
            self._ended_waiters.setdefault(worker.index, []).append(waiter)
            waits.append(waiter)
            pipe: Any = worker.link.amp.transport if worker.link is not None else None
            if pipe is not None:
                pipe.loseConnection()
            self.reactor.callLater(grace_s, self._kill, worker, "did not exit after its pipe closed")
        self._publish()
        if not waits:
            return succeed(None)
        return DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)

    def kill_now(self) -> None:
        """Second SIGINT: no drain, no goodbye (pending attempts are recovered as lost at the next start)."""
        self.stopping = True
        for worker in self.workers:
            if worker.pid is not None and worker.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)

    # -- visibility ----------------------------------------------------------------------------
    def snapshot(self) -> list[WorkerSnapshot]:
        return [WorkerSnapshot(w.index, w.pid, w.sip_port, w.slots, w.in_use, w.calls_done, w.restarts, w.state)
                for w in self.workers]

    def _publish(self) -> None:
        live = [w for w in self.workers if w.state in ("up", "draining")]
        self._up.set(len(live))
        self._slots.set(sum(w.slots for w in live))
        self._in_use.set(sum(w.in_use for w in live))

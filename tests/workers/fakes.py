"""Fake call-worker processes for the pool's unit tests: real AMP boxes, no processes, no pjsua2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.protocols import amp
from twisted.python.failure import Failure

from session.record import CallRecord
from workers.pool import AMP_FROM_CHILD_FD, AMP_TO_CHILD_FD
from workers.protocol import Cancel, Drain, Heartbeat, PlaceCall, Ready, answered_reply


def record(attempt_id: str, *, latency_ms: float | None = 240.0) -> CallRecord:
    from session.record import TurnRecord

    turn = TurnRecord(index=1, speech_start_s=2.0, speech_end_s=3.0, heard_text="是我", partials=1, intent="affirm",
                      confidence=0.9, node="identity/confirm", prompt_text="...", interruptible=True,
                      prompt_frames_total=10, prompt_frames_played=10, interrupted=False, latency_ms=latency_ms,
                      asr_latency_ms=120.0)
    return CallRecord(call_id=f"{attempt_id}-call", borrower_id="K1", attempt_id=attempt_id, trunk="t",
                      script_set="s", disposition="answered", sip_code=200, sip_reason="OK", invite_sent_at=1.0,
                      ringing_at=1.5, answered_at=2.0, ended_at=20.0, hangup_by="bot", end_reason="completed",
                      recording=None, outcome={"disposition": "ptp"}, turns=(turn,))


class FakeWorkerSide(amp.AMP):
    """What `cli.call_worker` answers, driven by the test: calls stay open until `finish(attempt_id)`."""

    def __init__(self, proc: FakeProcess) -> None:
        super().__init__()
        self.proc = proc
        self.calls: dict[str, Deferred[dict[str, Any]]] = {}
        self.cancelled: list[tuple[str, str]] = []
        self.drained = False

    @PlaceCall.responder
    def place_call(self, **request: Any) -> Deferred[dict[str, Any]]:
        d: Deferred[dict[str, Any]] = Deferred()
        self.calls[request["attempt_id"]] = d
        return d

    @Cancel.responder
    def cancel(self, attempt_id: str, reason: str) -> dict[str, bool]:
        self.cancelled.append((attempt_id, reason))
        return {"found": attempt_id in self.calls}

    @Heartbeat.responder
    def heartbeat(self) -> Any:
        if not self.proc.answers_heartbeats:
            return Deferred()  # a hung worker: the request is read but never answered
        return {"slots": 4, "in_use": len(self.calls), "calls_done": 0, "frames": self.proc.frames,
                "frames_late": self.proc.frames_late, "bot_frames": self.proc.bot_frames,
                "bot_frames_late": self.proc.bot_frames_late}

    @Drain.responder
    def drain(self) -> dict[str, int]:
        self.drained = True
        return {"in_use": len(self.calls)}

    def finish(self, attempt_id: str, reply: dict[str, Any] | None = None) -> None:
        self.calls.pop(attempt_id).callback(reply or answered_reply(record(attempt_id)))


class _ToCoordinator:
    def __init__(self, proc: FakeProcess) -> None:
        self.proc = proc
        self.disconnecting = False

    def write(self, data: bytes) -> None:  # delivered on the next clock turn, like a pipe
        self.proc.clock.callLater(0, self.proc.to_coordinator, data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        pass

    def getPeer(self) -> str:
        return "coordinator"

    def getHost(self) -> str:
        return "worker"


@dataclass
class FakeProcess:
    link: Any
    pid: int
    clock: Any
    answers_heartbeats: bool = True
    alive: bool = True
    frames: int = 0
    frames_late: int = 0
    bot_frames: int = 0
    bot_frames_late: int = 0
    side: FakeWorkerSide = field(init=False)
    signals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.side = FakeWorkerSide(self)
        transport: Any = _ToCoordinator(self)
        self.side.makeConnection(transport)
        self.link.makeConnection(self)

    def ready(self, slots: int = 4, sip_port: int | None = None) -> None:
        self.side.callRemote(Ready, pid=self.pid, sip_port=sip_port or 6000 + self.pid, slots=slots)

    # IProcessTransport, as much as the pool uses
    def closeStdin(self) -> None:
        pass

    def writeToChild(self, fd: int, data: bytes) -> None:
        assert fd == AMP_TO_CHILD_FD
        self.clock.callLater(0, self.to_worker, data)

    def to_worker(self, data: bytes) -> None:
        if self.alive:
            self.side.dataReceived(data)

    def to_coordinator(self, data: bytes) -> None:
        if self.alive:
            self.link.childDataReceived(AMP_FROM_CHILD_FD, data)

    def closeChildFD(self, fd: int) -> None:
        self.exit(error.ProcessDone(0))

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)
        self.exit(error.ProcessTerminated(signal=9))

    def exit(self, reason: Exception) -> None:
        if not self.alive:
            return
        self.alive = False
        self.link.childConnectionLost(AMP_FROM_CHILD_FD)
        self.link.processEnded(Failure(reason))


@dataclass
class FakeSpawner:
    """Records every spawn; `crash_at_start` makes new processes exit before they are ready."""

    clock: Any
    processes: list[FakeProcess] = field(default_factory=list)
    auto_ready: bool = True
    crash_at_start: bool = False
    answers_heartbeats: bool = True

    def spawn(self, index: int, sip_port: int, process_protocol: Any) -> FakeProcess:
        proc = FakeProcess(process_protocol, pid=100 + len(self.processes), clock=self.clock,
                           answers_heartbeats=self.answers_heartbeats)
        self.processes.append(proc)
        if self.crash_at_start:
            self.clock.callLater(0, proc.exit, error.ProcessTerminated(exitCode=2))
        elif self.auto_ready:
            proc.ready()
        return proc

    def live(self) -> list[FakeProcess]:
        return [p for p in self.processes if p.alive]

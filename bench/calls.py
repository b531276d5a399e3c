#!/usr/bin/env python3
"""Concurrent answered calls against a sipp UAS with RTP echo: setup rate, frame loss, lateness, CPU, memory.

    python bench/calls.py --calls 10 --seconds 20
    python bench/calls.py --calls 10 50 100 --seconds 20

The pjsua2-python wheel is compiled with PJSUA_MAX_CALLS = 4, so one process holds at most 4 calls.
N calls therefore run in ceil(N / per-worker) worker processes (each a full SipEndpoint on its own
reactor, as a sharded deployment would run them), all dialing one sipp at the same moment. Each call
plays noise for the whole call, sipp echoes it, and the worker counts the borrower frames its frame
consumer receives. Figures (one run each, medians where a per-call spread exists):

- setup rate: answered calls per second, from the first INVITE to the last 200 OK (all workers);
- frames: delivered vs expected (talk time / 20 ms) per call -> loss %;
- late frames: delivered more than 40 ms after the media clock says they were due (reactor lag);
- CPU seconds per call-minute: user+system CPU of all workers over the talk minutes (whole run, and
  steady state: from all of a worker's calls up to the first hang-up);
- peak RSS: largest worker, and the sum over workers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "telephony"))

LATE_S = 0.040


def worker(sipp_uri: str, calls: int, seconds: float, start_at: float) -> None:
    """One process: `calls` concurrent calls; prints one JSON line with its measurements."""
    import numpy as np
    from twisted.internet import defer
    from twisted.internet import reactor as _reactor

    from config.server_config import CallSettings, MediaSettings, ServerConfig, SipSettings
    from telephony.endpoint import SipEndpoint

    reactor: Any = _reactor
    rtp_base = 20000 + (os.getpid() * 97) % 20000 // 2 * 2
    config = ServerConfig(
        source=Path("bench.toml"),
        sip=SipSettings(port=0),
        media=MediaSettings(rtp_port_start=rtp_base, rtp_port_range=4000),
        calls=CallSettings(ring_timeout_s=20, max_call_seconds=seconds + 30),
    )
    endpoint = SipEndpoint(config, reactor)
    rng = np.random.default_rng(os.getpid())
    speech = (rng.standard_normal(int((seconds + 2) * 8000)) * 4000).astype("<i2").tobytes()
    result: dict[str, Any] = {"calls": calls, "answered": 0, "failed": [], "per_call": []}
    cpu_marks: list[float] = []

    def cpu_now() -> float:
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    def one_call() -> defer.Deferred[Any]:
        sent = time.time()
        frames: list[float] = []
        lateness: list[float] = []
        stats: dict[str, int] = {}

        def consumer(frame: bytes, t: float) -> None:
            now = time.monotonic()
            if not frames:
                frames.append(now)
            due = frames[0] + t
            lateness.append(now - due)

        def answered(call: Any) -> Any:
            result["answered"] += 1
            if result["answered"] == calls:
                cpu_marks.append(cpu_now())  # all calls up: steady-state CPU starts here
            answered_at = time.time()
            call.set_frame_consumer(consumer)
            call.playback.enqueue(speech)
            reactor.callLater(seconds - 0.3, lambda: stats.update(call.media_stats()))
            return call.ended.addCallback(lambda ev: done(ev, answered_at))

        def done(ev: Any, answered_at: float) -> None:
            if len(cpu_marks) == 1:
                cpu_marks.append(cpu_now())  # first call ends: steady state is over
            talk = ev.duration_s
            result["per_call"].append({
                "setup_s": answered_at - sent, "answered_at": answered_at, "invite_at": sent,
                "talk_s": talk, "frames": len(lateness), "expected": round(talk / 0.02),
                "late": sum(1 for x in lateness if x > LATE_S),
                "lateness_p50_ms": 1000 * statistics.median(lateness) if lateness else None,
                **stats,
            })

        def failed(f: Any) -> None:
            result["failed"].append(f.getErrorMessage())

        d = endpoint.dial(sipp_uri, max_seconds=seconds)
        d.addCallbacks(answered, failed)
        return d

    def run() -> Any:
        d = endpoint.start()
        d.addCallback(lambda _: defer.gatherResults([one_call() for _ in range(calls)], consumeErrors=True))
        d.addBoth(lambda _: endpoint.stop())
        d.addBoth(lambda _: reactor.stop())

    reactor.callLater(max(0.0, start_at - time.time()), run)
    reactor.run()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["cpu_steady_s"] = cpu_marks[1] - cpu_marks[0] if len(cpu_marks) == 2 else None
    result["rss_mb"] = usage.ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def run_level(n: int, seconds: float, per_worker: int) -> dict[str, Any]:
    from sip_peers import sipp

    workers = math.ceil(n / per_worker)
    sizes = [per_worker] * (n // per_worker) + ([n % per_worker] if n % per_worker else [])
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        start_at = time.time() + 2.0 + 0.15 * workers  # let every worker import and start first
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", peer.uri, str(size), str(seconds), str(start_at)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir(),
            )
            for size in sizes
        ]
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=seconds + 120)
            line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise RuntimeError(f"worker exited {proc.returncode} without a result")
            results.append(json.loads(line[len("RESULT "):]))
    per_call = [c for r in results for c in r["per_call"]]
    answered = sum(r["answered"] for r in results)
    first_invite = min(c["invite_at"] for c in per_call) if per_call else 0.0
    last_answer = max(c["answered_at"] for c in per_call) if per_call else 0.0
    frames = sum(c["frames"] for c in per_call)
    expected = sum(c["expected"] for c in per_call)
    talk_min = sum(c["talk_s"] for c in per_call) / 60
    cpu = sum(r["cpu_s"] for r in results)
    steady = [r["cpu_steady_s"] for r in results if r["cpu_steady_s"] is not None]
    steady_cpu_per_min = sum(steady) / (sum(r["calls"] for r in results) * seconds / 60) if steady else None
    return {
        "calls": n,
        "workers": workers,
        "answered": answered,
        "failed": [m for r in results for m in r["failed"]][:3],
        "setup_rate_cps": answered / max(last_answer - first_invite, 1e-3),
        "setup_p50_ms": 1000 * statistics.median(c["setup_s"] for c in per_call) if per_call else None,
        "frames_delivered": frames,
        "frames_expected": expected,
        # Talk time is measured on the reactor clock, frames on the media clock; a few frames over
        # the expected count is clock skew, not negative loss.
        "loss_pct": max(0.0, 100 * (1 - frames / expected)) if expected else None,
        "loss_pct_worst_call": max(
            (max(0.0, 100 * (1 - c["frames"] / c["expected"])) for c in per_call if c["expected"]), default=None
        ),
        "late_frames": sum(c["late"] for c in per_call),
        "rtp_rx_packets": sum(c.get("rx_packets", 0) for c in per_call),
        "rtp_rx_lost": sum(c.get("rx_lost", 0) for c in per_call),
        "jb_discarded": sum(c.get("jb_discarded", 0) for c in per_call),
        "jb_lost_or_empty": sum(c.get("jb_lost", 0) + c.get("jb_empty", 0) for c in per_call),
        "jb_avg_delay_ms_p50": statistics.median(c.get("jb_avg_delay_ms", 0) for c in per_call) if per_call else None,
        "late_pct": 100 * sum(c["late"] for c in per_call) / frames if frames else None,
        "cpu_s_per_call_minute": cpu / talk_min if talk_min else None,
        "cpu_s_per_call_minute_steady": steady_cpu_per_min,
        "peak_rss_mb_worker": max(r["rss_mb"] for r in results),
        "rss_mb_all_workers": sum(r["rss_mb"] for r in results),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, uri, calls, seconds, start_at = sys.argv
        worker(uri, int(calls), float(seconds), float(start_at))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seconds", type=float, default=20.0, help="talk time per call")
    parser.add_argument("--per-worker", type=int, default=4, help="calls per process (the wheel allows 4)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.per_worker <= 4:
        parser.error("--per-worker must be 1..4 (PJSUA_MAX_CALLS of the pjsua2-python wheel)")
    for n in args.calls:
        r = run_level(n, args.seconds, args.per_worker)
        if args.json:
            print(json.dumps(r))
            continue
        print(
            f"N={r['calls']:>3} ({r['workers']} workers): answered {r['answered']}/{r['calls']}  "
            f"setup {r['setup_rate_cps']:.1f} calls/s (p50 {r['setup_p50_ms']:.0f} ms)  "
            f"frames {r['frames_delivered']}/{r['frames_expected']} loss {r['loss_pct']:.2f}% "
            f"(worst call {r['loss_pct_worst_call']:.2f}%)  late(>40ms) {r['late_frames']} ({r['late_pct']:.2f}%)  "
            f"CPU {r['cpu_s_per_call_minute']:.2f} s/call-min incl. start-up, "
            f"{r['cpu_s_per_call_minute_steady']:.2f} while talking  "
            f"peak RSS {r['peak_rss_mb_worker']:.0f} MB/worker, {r['rss_mb_all_workers']:.0f} MB total"
        )
        print(
            f"        RTP rx {r['rtp_rx_packets']} pkts, lost on the wire {r['rtp_rx_lost']}, "
            f"jitter buffer discarded {r['jb_discarded']}, lost/empty {r['jb_lost_or_empty']}, "
            f"jb delay p50 {r['jb_avg_delay_ms_p50']} ms"
        )
        if r["failed"]:
            print(f"      failures: {r['failed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An INVITE flood from loopback while outbound calls talk: are the calls in progress disturbed?

    python bench/invite_flood.py --rate 200 --seconds 10 --calls 2

One `SipEndpoint` (as `serve` runs it, no trunk, so every incoming INVITE is from outside the
trunks) places `--calls` calls to a sipp UAS that echoes RTP. Once they talk, a second sipp sends
INVITEs at `--rate` per second for `--seconds` from 127.0.0.1 and expects 403 for each. Printed
for the calls in progress, before and during the flood: frames delivered vs expected, frames more
than 40 ms late (reactor lag, as in bench/calls.py), median and worst lateness; for the flood: how
many INVITEs got 403, and how many failed. `measure()` is what tests/telephony/test_invite_flood.py
runs, shorter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sim.process import stop_process_group  # noqa: E402

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = ROOT / "tests" / "fixtures" / "sipp"
LATE_S = 0.040
SETTLE_S = 2.0  # talk before the flood (baseline) and after it


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sipp(args: list[str], work: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([SIPP, *args, "-nostdin"], cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _flood_counts(work: Path) -> dict[str, int]:
    """sipp's final screen (`-trace_screen`): successful (403 received) and failed calls."""
    counts = {"invites_answered_403": 0, "invites_failed": 0}
    for screen in work.glob("*_screen.log"):
        text = screen.read_text(errors="replace")
        ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
        bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", text)
        counts["invites_answered_403"] = int(ok[-1]) if ok else 0
        counts["invites_failed"] = int(bad[-1]) if bad else 0
    return counts


def measure(rate: int, seconds: float, calls: int) -> dict[str, Any]:
    """Run the whole scenario on the global reactor (it is run here and stopped at the end)."""
    import numpy as np
    from twisted.internet import defer
    from twisted.internet import reactor as _reactor

    from config.server_config import CallSettings, MediaSettings, ServerConfig, SipSettings
    from telephony.endpoint import SipEndpoint

    reactor: Any = _reactor
    work = Path(tempfile.mkdtemp(prefix="invite-flood-"))
    uas_port, flood_port = _free_port(), _free_port()
    uas = _sipp(["-sf", str(SCENARIOS / "uas_echo.xml"), "-i", "127.0.0.1", "-p", str(uas_port), "-mi", "127.0.0.1",
                 "-mp", str(_free_port()), "-rtp_echo"], work)
    talk_s = seconds + 2 * SETTLE_S
    rtp_base = 20000 + (os.getpid() * 97) % 20000 // 2 * 2
    config = ServerConfig(source=work / "bench.toml", sip=SipSettings(port=0),
                          media=MediaSettings(rtp_port_start=rtp_base, rtp_port_range=2000),
                          calls=CallSettings(ring_timeout_s=10, max_call_seconds=talk_s + 30))
    endpoint = SipEndpoint(config, reactor)
    speech = (np.random.default_rng(7).standard_normal(int((talk_s + 2) * 8000)) * 4000).astype("<i2").tobytes()
    arrivals: list[list[tuple[float, float]]] = []  # per call: (lateness s, arrival monotonic)
    window: dict[str, float] = {}
    flood: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"rate": rate, "seconds": seconds, "calls": calls, "failed": []}

    def start_flood() -> None:
        text = (SCENARIOS / "uac_expect_final.xml").read_text().replace("@code@", "403")
        (work / "flood.xml").write_text(text)
        window["flood_start"] = time.monotonic()
        flood.append(_sipp(["-sf", str(work / "flood.xml"), "-i", "127.0.0.1", "-p", str(flood_port),
                            "-mi", "127.0.0.1", "-mp", str(_free_port()), "-r", str(rate),
                            "-m", str(int(rate * seconds)), "-l", str(rate * 4), "-timeout", str(int(seconds + 20)),
                            "-trace_screen", f"127.0.0.1:{endpoint.local_port}"], work))

        def flood_done() -> None:
            if flood[0].poll() is None:
                reactor.callLater(0.2, flood_done)
                return
            window["flood_end"] = time.monotonic()
        reactor.callLater(seconds, flood_done)

    def one_call() -> defer.Deferred[Any]:
        mine: list[tuple[float, float]] = []
        arrivals.append(mine)
        first: list[float] = []

        def consumer(frame: bytes, t: float) -> None:
            now = time.monotonic()
            if not first:
                first.append(now)
            mine.append((now - (first[0] + t), now))

        def answered(call: Any) -> Any:
            call.set_frame_consumer(consumer)
            call.playback.enqueue(speech)
            return call.ended

        d = endpoint.dial(f"sip:echo@127.0.0.1:{uas_port}", max_seconds=talk_s)
        d.addCallbacks(answered, lambda f: result["failed"].append(f.getErrorMessage()))
        return d

    def run() -> Any:
        d = endpoint.start()

        def placed(_: Any) -> Any:
            reactor.callLater(SETTLE_S, start_flood)
            return defer.gatherResults([one_call() for _ in range(calls)], consumeErrors=True)
        d.addCallback(placed)
        d.addBoth(lambda _: endpoint.stop())
        d.addBoth(lambda _: reactor.stop())

    reactor.callLater(0.5, run)  # let sipp bind first
    try:
        reactor.run()
    finally:
        for proc in [*flood, uas]:
            stop_process_group(proc)
    start, end = window.get("flood_start", 0.0), window.get("flood_end", window.get("flood_start", 0.0) + seconds)

    def summarize(pairs: list[tuple[float, float]]) -> dict[str, Any]:
        lateness = [late for late, _ in pairs]
        return {"frames": len(lateness), "expected": None,
                "late": sum(1 for x in lateness if x > LATE_S),
                "lateness_p50_ms": round(1000 * statistics.median(lateness), 2) if lateness else None,
                "lateness_max_ms": round(1000 * max(lateness), 2) if lateness else None}

    before = [p for call in arrivals for p in call if p[1] < start]
    during = [p for call in arrivals for p in call if start <= p[1] < end]
    result["before"] = summarize(before)
    result["during"] = summarize(during)
    result["during"]["expected"] = round(calls * (end - start) / 0.02)
    result["flood_s"] = round(end - start, 2)
    result.update(_flood_counts(work))
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, nargs="+", default=[200], help="INVITEs per second (one run each)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=2, help="outbound calls in progress (at most 3: 4 slots)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(args.rate[0], args.seconds, args.calls)), flush=True)
        return 0
    for rate in args.rate:  # each run in a child process: pjlib aborting must not take the bench with it
        started = time.monotonic()
        command = [sys.executable, __file__, "--child", "--rate", str(rate), "--seconds", str(args.seconds),
                   "--calls", str(args.calls)]
        child = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
        if child.returncode != 0 or not lines:
            tail = (child.stderr.strip().splitlines() or ["(no output)"])[-1]
            print(f"flood {rate}/s: ENDPOINT PROCESS DIED (exit {child.returncode}) after "
                  f"{time.monotonic() - started:.1f} s: {tail}")
            continue
        r = json.loads(lines[-1][len("RESULT "):])
        d, b = r["during"], r["before"]
        print(f"flood {rate}/s for {r['flood_s']} s: {r['invites_answered_403']} INVITEs answered 403, "
              f"{r['invites_failed']} failed; calls in progress {r['calls']} (dial failures {len(r['failed'])}): "
              f"{d['frames']}/{d['expected']} frames during the flood, late(>40ms) {d['late']}, lateness median "
              f"{d['lateness_p50_ms']} ms, worst {d['lateness_max_ms']} ms (before: late {b['late']}/{b['frames']}, "
              f"worst {b['lateness_max_ms']} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

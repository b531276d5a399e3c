#!/usr/bin/env python3
"""`serve` with call workers under N concurrent answered calls from simulated borrowers that speak.

    python bench/serve_load.py --calls 64 --seconds 30 [--workers W] [--peer sipp|sim]
                               [--import-rows 10000 [--store-url postgresql://...]]

Starts `server.py serve --workers W` (default ceil(N/4): each pjsua2 process carries 4 calls) itself:
full sessions (sim recognizer, real VAD, spliced prompts, recording) on loopback against simulated
borrowers, all N dialled at `--calls-per-second` (default 5, a trunk's default):
- `--peer sipp` (default): one sipp UAS (`sim.sipp_borrower`) on one trunk answers every call and
  speaks the persona's lines (espeak-ng audio as pcap, each announced by the sim recognizer's INFO) on
  a fixed schedule measured against the bot's prompts. Any N.
- `--peer sim`: ceil(N/4) `sim.phone` processes (4 calls each), one trunk and campaign per phone; they
  take turns by listening to the bot. At most 24 calls (a server has at most 6 trunks).
Campaigns stop dialling after S seconds; the run ends when the calls have ended (bounded).

Figures: `answered` (first wave), `late_frames_pct`: bot frames handed to the media bridge over 20 ms
after their deadline, counted in the workers (`voicebot_bot_frames_late_total` / `_total`); the
borrower frames that reached a session over 40 ms late are printed too, labelled. Voice-to-voice
p50/p95 over every turn of every stored call, CPU seconds (user + system of the coordinator and its
workers) per call-minute of answered talk time, and the workers' RSS (peak of the sum) per call.
The peers' own CPU is printed on the line before.

`--import-rows R`: once every call is up, R borrowers (GBK CSV, as bench/campaigns.py) are uploaded to a
draft campaign through the API while the calls talk; a line `import rows=R ...` compares the window of
the upload with a quiet window of 10 s just before it: bot frames late (%), the coordinator's reactor
lag (worst, and timer firings over 100 ms late: telemetry.reactor_lag), and the upload's own time.
`--store-url` runs it all on that PostgreSQL database (empty, or one this bench made) instead of SQLite.
The last line is exactly:
`calls=N answered=A late_frames_pct=X v2v_p50_ms=P v2v_p95_ms=Q cpu_s_per_call_min=C rss_mb_per_call=R`
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/asr.py must not shadow the asr package

from config.server_config import TrunkSettings  # noqa: E402
from sim.personas import load_personas  # noqa: E402
from sim.process import SimPhoneProcess, stop_process_group  # noqa: E402
from sim.sipp_borrower import SippBorrowers  # noqa: E402
from sim.voice import EspeakVoice  # noqa: E402

TOKEN = "bench-serve-load-token-0123456789"
PERSONAS = ("cooperative_promise", "negotiation", "hardship", "interrupter", "busy_callback", "already_paid")
ZONES = ("Asia/Shanghai", "Asia/Tokyo", "Europe/London", "America/New_York", "America/Los_Angeles",
         "Pacific/Auckland", "Asia/Kolkata", "Europe/Moscow")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_SIM_CALLS = 24  # 4 calls per sim phone, one trunk each, at most 6 trunks per server
# The sipp borrower speaks cooperative_promise's lines; seconds of silence before each, measured
# from a `--peer sim` run (the sim phone replies ~0.4 s after the bot's prompt ends): the opening
# prompt is ~12.6 s, the replies to the lines ~9 s and ~6 s; the last line is for a bot still talking.
SIPP_PERSONA = "cooperative_promise"
SIPP_WAITS_S = (13.1, 9.8, 6.9, 6.0)


def daytime_zone() -> str:
    now = dt.datetime.now(dt.UTC)
    for zone in ZONES:
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 19:
            return zone
    raise SystemExit("no zone in the list is in its daytime call window now")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def api(base: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
        content_type: str = "application/json") -> Any:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as res:
        payload = res.read()
    return json.loads(payload) if res.headers.get_content_type() == "application/json" else payload.decode()


def metric_sum(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def metric_bucket(text: str, name: str, le: str) -> float:
    m = re.search(rf'^{name}_bucket{{le="{re.escape(le)}"}} (\S+)$', text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def lag_counts(text: str) -> tuple[float, float]:
    """(timer firings, firings over 100 ms late) of the coordinator's reactor so far."""
    total = metric_sum(text, "voicebot_reactor_lag_seconds_count")
    return total, total - metric_bucket(text, "voicebot_reactor_lag_seconds", "0.1")


def window(before: str, after: str) -> dict[str, float]:
    """What happened between two /metrics texts: bot frames, late ones, reactor firings and slow ones."""
    (t0, s0), (t1, s1) = lag_counts(before), lag_counts(after)
    frames = metric_sum(after, "voicebot_bot_frames_total") - metric_sum(before, "voicebot_bot_frames_total")
    late = metric_sum(after, "voicebot_bot_frames_late_total") - metric_sum(before, "voicebot_bot_frames_late_total")
    return {"frames": frames, "late_pct": late / max(frames, 1) * 100, "firings": t1 - t0, "slow": s1 - s0}


def import_during_calls(base: str, zone: str, rows: int) -> str:
    """Upload `rows` borrowers to a draft campaign while the calls talk; the `import ...` line."""
    from campaigns import csv_rows  # bench/campaigns.py: the same GBK CSV as its import figures

    data = csv_rows(rows)
    target = api(base, "POST", "/api/campaigns", {"name": "import-load", "strategy": "demo_fast", "timezone": zone})
    quiet_start = api(base, "GET", "/metrics")
    time.sleep(10.0)
    quiet_end = api(base, "GET", "/metrics")
    worst_quiet = metric_sum(quiet_end, "voicebot_reactor_lag_max_seconds")  # worst of the last 10 s
    t0 = time.monotonic()
    report = api(base, "POST", f"/api/campaigns/{target['id']}/borrowers?filename=import.csv", raw=data,
                 content_type="text/csv")
    upload_s = time.monotonic() - t0
    worst_during = metric_sum(api(base, "GET", "/metrics"), "voicebot_reactor_lag_max_seconds")
    time.sleep(2.5)  # the workers' frame counts of the window arrive with the next heartbeats (every second)
    during = window(quiet_end, api(base, "GET", "/metrics"))
    quiet = window(quiet_start, quiet_end)
    if report.get("inserted") != rows:
        raise SystemExit(f"the import stored {report.get('inserted')} of {rows} rows: {report}")
    return (f"import rows={rows} upload_s={upload_s:.2f} late_frames_pct quiet={quiet['late_pct']:.2f} "
            f"import={during['late_pct']:.2f} reactor_lag_max_ms quiet={worst_quiet * 1000:.0f} "
            f"import={worst_during * 1000:.0f} reactor_firings_over_100ms quiet={quiet['slow']:.0f}/"
            f"{quiet['firings']:.0f} import={during['slow']:.0f}/{during['firings']:.0f}")


def write_config(work: Path, trunks: list[tuple[str, int, int]], workers: int, max_call_s: int,
                 cps: float, store_url: str | None = None) -> Path:
    """`trunks`: (name, port of the peer, max concurrent calls)."""
    store = f'url = "{store_url}"' if store_url else f'path = "{work / "campaigns.sqlite3"}"'

    trunk_text = "".join(f"""
[[trunks]]
name = "{name}"
proxy = "sip:127.0.0.1:{port}"
caller_id = "4000"
max_concurrent_calls = {calls}
calls_per_second = {cps}
""" for name, port, calls in trunks)
    path = work / "server.toml"
    path.write_text(f"""
[sip]
port = 0
[media]
rtp_port_start = 30000
rtp_port_range = 8000
[http]
port = 0
tokens = ["{TOKEN}"]
[store]
{store}
[calls]
recording_dir = "{work / 'recordings'}"
ring_timeout_s = 20
max_call_seconds = {max_call_s}
[campaign]
tick_seconds = 0.2
[logging]
level = "WARNING"
[asr]
recognizer = "sim"
[workers]
count = {workers}
drain_seconds = 5
heartbeat_timeout_s = 10
{trunk_text}""")
    return path


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None, help="call workers (default: ceil(calls / 4))")
    parser.add_argument("--peer", choices=("sipp", "sim"), default="sipp",
                        help="sipp: one sipp UAS on one trunk (any N); sim: sim phones, 4 calls and a trunk each")
    parser.add_argument("--calls-per-second", type=float, default=TrunkSettings.calls_per_second,
                        help="dial rate of each trunk and campaign (default: a trunk's default; the first wave's"
                             " set-up burst: 20/s puts 64 calls' starts into 3 s)")
    parser.add_argument("--import-rows", type=int, default=0, metavar="R",
                        help="upload R borrowers through the API while the calls talk (see above)")
    parser.add_argument("--store-url", default=None, help="a PostgreSQL database to run on instead of SQLite")
    args = parser.parse_args()
    if args.import_rows and args.seconds < 45:
        parser.error("--import-rows needs --seconds of at least 45 (calls up, 10 s quiet, the upload, 2.5 s)")
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if args.peer == "sim" and args.calls > MAX_SIM_CALLS:
        parser.error(f"--peer sim carries at most {MAX_SIM_CALLS} calls (a trunk per 4 calls, at most 6 trunks); "
                     "use --peer sipp")
    workers = args.workers or math.ceil(args.calls / 4)
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    phone_numbers = [f"1390001{i:04d}" for i in range(args.calls)]
    phones: list[SimPhoneProcess] = []
    sipp: SippBorrowers | None = None
    serve: subprocess.Popen[bytes] | None = None
    try:
        # Each group of numbers is one campaign on one trunk: (trunk name, peer port, numbers).
        groups: list[tuple[str, int, list[str]]] = []
        if args.peer == "sim":
            numbers = work / "numbers.toml"
            numbers.write_text("[numbers]\n" + "".join(f'"{n}" = "{PERSONAS[i % len(PERSONAS)]}"\n'
                                                       for i, n in enumerate(phone_numbers)))
            for k in range(math.ceil(args.calls / 4)):
                phone = SimPhoneProcess(numbers=numbers, log_path=work / f"sim-{k}.jsonl")
                phones.append(phone)
                groups.append((f"sim{k}", phone.start(), phone_numbers[k * 4:(k + 1) * 4]))
        else:
            book = load_personas()
            texts = [line.text for line in book.get(SIPP_PERSONA).lines]
            sipp = SippBorrowers(EspeakVoice(book.voice, cache_dir=ROOT / "var" / "sim-voice"), texts,
                                 SIPP_WAITS_S[:len(texts)], tail_s=15.0, work_dir=work / "sipp")
            groups.append(("sipp", sipp.start(), phone_numbers))
        peer_pids = [p._proc.pid for p in phones if p._proc is not None] + ([sipp.pid] if sipp and sipp.pid else [])
        config = write_config(work, [(name, port, len(nums)) for name, port, nums in groups], workers,
                              int(args.seconds) + 90, args.calls_per_second, args.store_url)
        log = (work / "serve.log").open("ab")
        serve = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "serve", "--config", str(config)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        assert serve.stdout is not None
        banner = serve.stdout.readline().decode()
        m = re.search(r"serving (http://\S+?)/ ", banner)
        if not m:
            raise SystemExit(f"serve did not start: {banner!r} (see {work / 'serve.log'})")
        base = m.group(1)
        deadline = time.monotonic() + 120
        while True:  # every worker up (pre-rendering prompts competes with the calls for the CPU)
            listing = api(base, "GET", "/api/workers")
            if listing["workers_up"] >= workers or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        worker_pids = [w["pid"] for w in listing["workers"]]
        pids = [serve.pid, *worker_pids]
        zone = daytime_zone()
        campaigns = []
        for k, (trunk, _port, mine) in enumerate(groups):
            campaign = api(base, "POST", "/api/campaigns", {
                "name": f"load-{k}", "strategy": "demo_fast", "timezone": zone, "trunk": trunk,
                "max_concurrent_calls": len(mine), "calls_per_second": args.calls_per_second})
            rows = [json.dumps({"id": f"L{k}-{i}", "name": "张伟", "phone": n, "amount_due": 3000, "overdue_days": 5,
                                "due_date": "2026-11-26", "product": "随心贷", "creditor": "安信消费金融",
                                "risk_score": 700, "timezone": zone}, ensure_ascii=False) for i, n in enumerate(mine)]
            api(base, "POST", f"/api/campaigns/{campaign['id']}/borrowers?filename=b.jsonl",
                raw="\n".join(rows).encode(), content_type="application/x-ndjson")
            campaigns.append((campaign["id"], len(mine)))
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        peer_cpu0 = cpu_of(peer_pids)
        started = time.monotonic()
        for cid, _n in campaigns:
            api(base, "POST", f"/api/campaigns/{cid}/start", {})
        peak_rss = 0.0
        late_over_time: list[tuple[float, float, float]] = []  # (s since start, bot frames, late) every 5 s

        def sample_late() -> None:
            text = api(base, "GET", "/metrics")
            late_over_time.append((time.monotonic() - started, metric_sum(text, "voicebot_bot_frames_total"),
                                   metric_sum(text, "voicebot_bot_frames_late_total")))

        import_line = ""
        while time.monotonic() - started < args.seconds:
            if args.import_rows and not import_line and (
                    api(base, "GET", "/api/live")["by_state"].get("talking", 0) >= args.calls
                    or time.monotonic() - started > args.seconds / 2):
                import_line = import_during_calls(base, zone, args.import_rows)
                print(import_line, flush=True)
            peak_rss = max(peak_rss, sum(rss_mb(pid) for pid in worker_pids))
            if not late_over_time or time.monotonic() - started - late_over_time[-1][0] >= 5.0:
                sample_late()
            time.sleep(1.0)
        for cid, _n in campaigns:
            api(base, "POST", f"/api/campaigns/{cid}/stop", {})
        deadline = time.monotonic() + 120
        while api(base, "GET", "/api/live")["calls_in_flight"] and time.monotonic() < deadline:
            peak_rss = max(peak_rss, sum(rss_mb(pid) for pid in worker_pids))
            if time.monotonic() - started - late_over_time[-1][0] >= 5.0:
                sample_late()
            time.sleep(0.5)
        cpu = sum(cpu_seconds(pid) - cpu0[pid] for pid in pids)
        peer_cpu = cpu_of(peer_pids) - peer_cpu0
        wall = time.monotonic() - started
        time.sleep(2.5)  # the workers' last frame counts arrive with the next heartbeats (every second)
        metrics = api(base, "GET", "/metrics")
        bot_frames = metric_sum(metrics, "voicebot_bot_frames_total")
        bot_late = metric_sum(metrics, "voicebot_bot_frames_late_total")
        frames = metric_sum(metrics, "voicebot_borrower_frames_total")
        late = metric_sum(metrics, "voicebot_borrower_frames_late_total")
        latencies: list[float] = []
        answered = 0
        talk_s = 0.0
        for cid, first in campaigns:
            calls = api(base, "GET", f"/api/campaigns/{cid}/calls?limit=500")["calls"]
            first_wave = sorted(calls, key=lambda c: c["invite_sent_at"])[:first]
            answered += sum(1 for c in first_wave if c["disposition"] == "answered")
            for c in calls:
                talk_s += c["duration_s"] or 0.0
                detail = api(base, "GET", f"/api/calls/{c['call_id']}")
                latencies += [t["latency_ms"] for t in detail["record"].get("turns", [])
                              if t.get("latency_ms") is not None and t.get("event") == "utterance"]
        call_min = max(talk_s / 60.0, 1e-9)
        steps = [f"{t1:.0f}s:{(l1 - l0) / max(f1 - f0, 1) * 100:.1f}%" for (_t0, f0, l0), (t1, f1, l1)
                 in itertools.pairwise(late_over_time)]
        print("bot frames late per ~5 s (heartbeats lag ~1 s): " + " ".join(steps))
        peers = "sipp (one process)" if args.peer == "sipp" else f"{len(phones)} sim phones"
        print(f"run: {work}  wall {wall:.1f} s, talk {talk_s:.0f} s over the calls, {len(latencies)} turns, "
              f"workers {workers}; peers: {peers}, own CPU {peer_cpu:.1f} s "
              f"({peer_cpu / max(wall, 1e-9) * 100:.0f}% of one core) on the same machine; "
              f"bot frames {bot_frames:.0f} ({bot_late:.0f} late); borrower frames late "
              f"{late / max(frames, 1) * 100:.2f}% of {frames:.0f} (over 40 ms late reaching the session)")
        print(f"calls={args.calls} answered={answered} late_frames_pct={bot_late / max(bot_frames, 1) * 100:.2f} "
              f"v2v_p50_ms={percentile(latencies, 0.5):.0f} v2v_p95_ms={percentile(latencies, 0.95):.0f} "
              f"cpu_s_per_call_min={cpu / call_min:.2f} rss_mb_per_call={peak_rss / args.calls:.0f}")
        return 0
    finally:
        if serve is not None:
            stop_process_group(serve, wait=60)
        for phone in phones:
            phone.stop()
        if sipp is not None:
            sipp.stop()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())

#!/usr/bin/env python3
"""`serve` with call workers under N concurrent answered calls from simulated borrowers that speak.

    python bench/serve_load.py --calls 16 --seconds 30 [--workers W]

Starts `server.py serve --workers W` (default ceil(N/4)) itself: full sessions (sim recognizer, real
VAD, spliced prompts, recording) on loopback against ceil(N/4) `sim.phone` processes (each pjsua2
process carries 4 calls), one trunk and one campaign per phone, so all N calls are dialled at once.
Campaigns stop dialling after S seconds; the run ends when the calls have ended (bounded).

Figures: `answered` (first wave), `late_frames_pct` (borrower frames that reached a session over
40 ms later than the best-observed lag, counted in the workers: `voicebot_borrower_frames_late_total`
/ `_frames_total`), voice-to-voice p50/p95 over every turn of every stored call, CPU seconds (user +
system of the coordinator and its workers) per call-minute of answered talk time, and the workers'
RSS (sum at the end of the talk) per call. The sim phones' own CPU is printed on the line before.
The last line is exactly:
`calls=N answered=A late_frames_pct=X v2v_p50_ms=P v2v_p95_ms=Q cpu_s_per_call_min=C rss_mb_per_call=R`
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import signal
import socket
import statistics
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

from sim.process import SimPhoneProcess  # noqa: E402

TOKEN = "bench-serve-load-token-0123456789"
PERSONAS = ("cooperative_promise", "negotiation", "hardship", "interrupter", "busy_callback", "already_paid")
ZONES = ("Asia/Shanghai", "Asia/Tokyo", "Europe/London", "America/New_York", "America/Los_Angeles",
         "Pacific/Auckland", "Asia/Kolkata", "Europe/Moscow")
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def write_config(work: Path, ports: list[int], workers: int, max_call_s: int) -> Path:
    trunks = "".join(f"""
[[trunks]]
name = "sim{k}"
proxy = "sip:127.0.0.1:{port}"
caller_id = "4000"
max_concurrent_calls = 4
calls_per_second = 20
""" for k, port in enumerate(ports))
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
path = "{work / 'campaigns.sqlite3'}"
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
{trunks}""")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None, help="call workers (default: ceil(calls / 4))")
    args = parser.parse_args()
    phones_needed = math.ceil(args.calls / 4)
    workers = args.workers or phones_needed
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    numbers = work / "numbers.toml"
    phone_numbers = [f"1390001{i:04d}" for i in range(args.calls)]
    numbers.write_text("[numbers]\n" + "".join(f'"{n}" = "{PERSONAS[i % len(PERSONAS)]}"\n'
                                               for i, n in enumerate(phone_numbers)))
    phones = [SimPhoneProcess(numbers=numbers, log_path=work / f"sim-{k}.jsonl") for k in range(phones_needed)]
    serve: subprocess.Popen[bytes] | None = None
    try:
        ports = [p.start() for p in phones]
        config = write_config(work, ports, workers, int(args.seconds) + 60)
        log = (work / "serve.log").open("ab")
        serve = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "serve", "--config", str(config)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        assert serve.stdout is not None
        banner = serve.stdout.readline().decode()
        m = re.search(r"serving (http://\S+?)/ ", banner)
        if not m:
            raise SystemExit(f"serve did not start: {banner!r} (see {work / 'serve.log'})")
        base = m.group(1)
        worker_pids = [w["pid"] for w in api(base, "GET", "/api/workers")["workers"]]
        pids = [serve.pid, *worker_pids]
        zone = daytime_zone()
        campaigns = []
        for k in range(phones_needed):
            mine = phone_numbers[k * 4:(k + 1) * 4]
            campaign = api(base, "POST", "/api/campaigns", {
                "name": f"load-{k}", "strategy": "demo_fast", "timezone": zone, "trunk": f"sim{k}",
                "max_concurrent_calls": 4, "calls_per_second": 20})
            rows = [json.dumps({"id": f"L{k}-{i}", "name": "张伟", "phone": n, "amount_due": 3000, "overdue_days": 5,
                                "due_date": "2026-11-26", "product": "随心贷", "creditor": "安信消费金融",
                                "risk_score": 700, "timezone": zone}, ensure_ascii=False) for i, n in enumerate(mine)]
            api(base, "POST", f"/api/campaigns/{campaign['id']}/borrowers?filename=b.jsonl",
                raw="\n".join(rows).encode(), content_type="application/x-ndjson")
            campaigns.append(campaign["id"])
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        sim_cpu0 = sum(cpu_seconds(p._proc.pid) for p in phones if p._proc is not None)
        started = time.monotonic()
        for cid in campaigns:
            api(base, "POST", f"/api/campaigns/{cid}/start", {})
        peak_rss = 0.0
        while time.monotonic() - started < args.seconds:
            peak_rss = max(peak_rss, sum(rss_mb(pid) for pid in worker_pids))
            time.sleep(1.0)
        for cid in campaigns:
            api(base, "POST", f"/api/campaigns/{cid}/stop", {})
        deadline = time.monotonic() + 90
        while api(base, "GET", "/api/live")["calls_in_flight"] and time.monotonic() < deadline:
            time.sleep(0.5)
        cpu = sum(cpu_seconds(pid) - cpu0[pid] for pid in pids)
        sim_cpu = sum(cpu_seconds(p._proc.pid) for p in phones if p._proc is not None) - sim_cpu0
        wall = time.monotonic() - started
        metrics = api(base, "GET", "/metrics")
        frames = metric_sum(metrics, "voicebot_borrower_frames_total")
        late = metric_sum(metrics, "voicebot_borrower_frames_late_total")
        latencies: list[float] = []
        answered = 0
        talk_s = 0.0
        for cid in campaigns:
            calls = api(base, "GET", f"/api/campaigns/{cid}/calls?limit=200")["calls"]
            first_wave = sorted(calls, key=lambda c: c["invite_sent_at"])[:4]
            answered += sum(1 for c in first_wave if c["disposition"] == "answered")
            for c in calls:
                talk_s += c["duration_s"] or 0.0
                detail = api(base, "GET", f"/api/calls/{c['call_id']}")
                latencies += [t["latency_ms"] for t in detail["record"].get("turns", [])
                              if t.get("latency_ms") is not None and t.get("event") == "utterance"]
        call_min = max(talk_s / 60.0, 1e-9)
        median = statistics.median(latencies) if latencies else float("nan")
        print(f"run: {work}  wall {wall:.1f} s, talk {talk_s:.0f} s over the calls, {len(latencies)} turns, "
              f"workers {workers}; sim phones' own CPU {sim_cpu:.1f} s ({sim_cpu / max(wall, 1e-9) * 100:.0f}% of one "
              f"core) on the same machine; median v2v {median:.0f} ms")
        print(f"calls={args.calls} answered={answered} late_frames_pct={late / max(frames, 1) * 100:.2f} "
              f"v2v_p50_ms={percentile(latencies, 0.5):.0f} v2v_p95_ms={percentile(latencies, 0.95):.0f} "
              f"cpu_s_per_call_min={cpu / call_min:.2f} rss_mb_per_call={peak_rss / args.calls:.0f}")
        return 0
    finally:
        if serve is not None and serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
        for phone in phones:
            phone.stop()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())

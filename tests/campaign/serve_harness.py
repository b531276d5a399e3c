"""Real processes for the campaign integration tests: sipp answering calls and `server.py serve`.

Everything binds 127.0.0.1 on ports chosen at run time; every process is stopped by its own pid.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sim.process import stop_process_group

ROOT = Path(__file__).resolve().parents[2]
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
TOKEN = "integration-token-0123456789"
# Full sessions in call workers (sim recognizer). heartbeat_timeout_s: on this 2-core host shared by several
# developers a healthy worker carrying 4 live sessions was measured answering a heartbeat 3.2 s late; the
# 3 s default is covered by tests/workers.
WORKER_SESSION_CONFIG = """
[asr]
recognizer = "sim"
[workers]
drain_seconds = 3
heartbeat_timeout_s = 10
"""
ZONES = ("Asia/Shanghai", "Asia/Tokyo", "Asia/Kolkata", "Europe/Moscow", "Europe/London", "America/Sao_Paulo",
         "America/New_York", "America/Chicago", "America/Los_Angeles", "Pacific/Honolulu", "Pacific/Auckland")


def daytime_zone(now: dt.datetime | None = None) -> str:
    """A zone where it is now 10:00-19:59, so the real-clock tests run inside every strategy window (C1)."""
    moment = now or dt.datetime.now(dt.UTC)
    for zone in ZONES:
        if 10 <= moment.astimezone(ZoneInfo(zone)).hour < 20:
            return zone
    raise RuntimeError("no daytime zone in the list")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sipp:
    port: int
    workdir: Path

    def invite_call_ids(self) -> set[str]:
        """Call-IDs of every INVITE sipp received (retransmissions counted once)."""
        ids: set[str] = set()
        for log in self.workdir.glob("*_messages.log"):
            for block in log.read_text(errors="replace").split("----------------------------------------------"):
                if "INVITE sip:" in block and "received" in block:
                    m = re.search(r"^Call-ID:\s*(\S+)", block, re.MULTILINE | re.IGNORECASE)
                    if m:
                        ids.add(m.group(1))
        return ids


SCENARIO = Path(__file__).resolve().parent / "sipp" / "uas_ring_then_answer.xml"


@contextmanager
def sipp_uas(workdir: Path) -> Iterator[Sipp]:
    """sipp answering every call after 1.5 s of ringing, with every message traced to a log."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_udp_port()
    media = free_udp_port()
    proc = subprocess.Popen(
        [SIPP, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media),
         "-nostdin", "-trace_msg"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    break
            time.sleep(0.02)
        yield Sipp(port, workdir)
    finally:
        stop_process_group(proc, wait=15)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base: str
    store: Path | str  # the SQLite file, or the PostgreSQL URL of a node on a shared store
    banner: str = ""  # the "serving ..." line

    def api(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
            content_type: str = "application/json") -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


def write_config(workdir: Path, sipp_port: int, *, max_concurrent: int = 2, extra: str = "", sip: str = "port = 0",
                 store: str | None = None, campaign: str = "", route: str | None = None, caller_id: str = "4000",
                 calls_per_second: float = 5) -> Path:
    """server.toml for one `serve` on loopback with one trunk, "sipp".

    By default the trunk's proxy is a sipp on `sipp_port` and the store a SQLite file in `workdir`;
    `sip`, `store` and `route` replace the bodies of `[sip]`, `[store]` and the trunk's proxy/domain
    lines (a node behind Kamailio on PostgreSQL), `campaign` adds lines to `[campaign]`, and `extra`
    (prepended) holds any other section.
    """
    config = workdir / "server.toml"
    store = store if store is not None else f'path = "{workdir / "campaigns.sqlite3"}"'
    route = route if route is not None else f'proxy = "sip:127.0.0.1:{sipp_port}"'
    config.write_text(extra + f"""
[sip]
{sip}
[http]
port = 0
tokens = ["{TOKEN}"]
[store]
{store}
[calls]
recording_dir = "{workdir / 'recordings'}"
ring_timeout_s = 10
[campaign]
tick_seconds = 0.2
{campaign}
[logging]
level = "INFO"
[[trunks]]
name = "sipp"
{route}
caller_id = "{caller_id}"
max_concurrent_calls = {max_concurrent}
calls_per_second = {calls_per_second}
""")
    return config


@contextmanager
def serve(workdir: Path, config: Path, args: tuple[str, ...] = ("--no-session",),
          store: str | None = None) -> Iterator[Served]:
    """`server.py serve --no-session` (or `args`) as a child process; yields once it prints its HTTP address.

    `store`: the PostgreSQL URL the config names, else the store is the SQLite file in `workdir`. On exit
    the process group is killed too, so call workers that outlived a killed coordinator do not linger.
    """
    log = (workdir / "serve.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "serve", "--config", str(config), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        m = re.search(r"serving (http://\S+?)/ ", line)
        if not m:
            raise RuntimeError(f"serve did not start: {line!r}\n{(workdir / 'serve.log').read_text()[-3000:]}")
        yield Served(proc, m.group(1), store or workdir / "campaigns.sqlite3", line)
    finally:
        stop_process_group(proc, wait=15)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def wait_for(predicate: Any, timeout: float, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def borrower_lines(n: int, zone: str) -> bytes:
    rows = [json.dumps({"id": f"K{i:03d}", "name": "张伟", "phone": f"1380013{i:04d}", "amount_due": 1000 + i,
                        "overdue_days": 10, "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融",
                        "risk_score": 650, "timezone": zone}, ensure_ascii=False) for i in range(n)]
    return "\n".join(rows).encode()


def start_campaign(served: Served, zone: str, borrowers: int, concurrent: int, strategy: str = "demo_fast") -> str:
    """A campaign (`demo_fast`: retries within seconds) with `borrowers` borrowers (borrower_lines), started;
    returns its id."""
    status, campaign = served.api("POST", "/api/campaigns", {
        "name": "workers", "strategy": strategy, "timezone": zone, "max_concurrent_calls": concurrent,
        "calls_per_second": 10})
    assert status == 201, campaign
    status, report = served.api("POST", f"/api/campaigns/{campaign['id']}/borrowers?filename=b.jsonl",
                                raw=borrower_lines(borrowers, zone), content_type="application/x-ndjson")
    assert status == 200 and report["inserted"] == borrowers, report
    assert served.api("POST", f"/api/campaigns/{campaign['id']}/start", {})[0] == 200
    return str(campaign["id"])


def peak_overlap(attempts: list[sqlite3.Row]) -> int:
    """The most attempts that were in flight at once (an attempt starts and ends at its stored times)."""
    edges = sorted([(a["started_at"], 1) for a in attempts]
                   + [(a["completed_at"], -1) for a in attempts if a["completed_at"] is not None],
                   key=lambda e: (e[0], e[1]))
    live = peak = 0
    for _t, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def stored_rows(db: Path | str, table: str, order_by: str) -> list[Any]:
    """Every row of one store table, in `order_by` order, read straight from SQLite (a path) or PostgreSQL
    (a URL, with psycopg; rows are dicts) as an operator would."""
    if isinstance(db, str):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(db, row_factory=dict_row) as pg:
            return list(pg.execute(f"SELECT * FROM {table} ORDER BY {order_by}"))
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return list(con.execute(f"SELECT * FROM {table} ORDER BY {order_by}"))
    finally:
        con.close()


def stored_attempts(db: Path | str) -> list[Any]:
    """Every attempt row in the store, oldest first."""
    return stored_rows(db, "attempts", "started_at")


def process_state(pid: int) -> str:
    """The state letter of /proc/PID/stat (R, S, Z, X ...), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def worker_pids(served: Served) -> list[int]:
    """Pids of the call workers that are up, from GET /api/workers."""
    status, body = served.api("GET", "/api/workers")
    assert status == 200, body
    return [int(w["pid"]) for w in body["workers"] if w["state"] == "up"]

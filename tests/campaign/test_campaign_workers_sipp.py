"""Integration: `serve --workers 3` (a coordinator and three pjsua2 call workers) against sipp on loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
import urllib.request
import wave
from pathlib import Path

import pytest
from serve_harness import (
    TOKEN,
    WORKER_SESSION_CONFIG,
    Served,
    daytime_zone,
    peak_overlap,
    process_state,
    serve,
    sipp_uas,
    start_campaign,
    stored_attempts,
    wait_for,
    worker_pids,
    write_config,
)

pytestmark = pytest.mark.integration


def _metrics(served: Served) -> dict[str, float]:
    with urllib.request.urlopen(urllib.request.Request(
            served.base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}), timeout=10) as res:
        text = res.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_twelve_calls_through_three_workers_all_answered_and_recorded(tmp_path: Path) -> None:
    """12 borrowers at once over 3 workers x 4 slots: all answered by full sessions, each recorded, <= 12 live."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port, max_concurrent=20, extra=WORKER_SESSION_CONFIG)
        with serve(tmp_path, config, ("--workers", "3")) as served:
            assert "workers 3 call slots 12" in served.banner, served.banner
            status, listing = served.api("GET", "/api/workers")
            assert status == 200 and len(listing["workers"]) == 3 and listing["call_slots"] == 12
            assert len({w["sip_port"] for w in listing["workers"]}) == 3
            cid = start_campaign(served, zone, 12, 20)
            first: list[sqlite3.Row] = []

            def twelve_done() -> bool:
                rows = [a for a in stored_attempts(served.store) if a["state"] == "completed"]
                first[:] = rows
                return len(rows) >= 12

            wait_for(twelve_done, 120, step=0.5)
            peak_in_use = max(0.0, _metrics(served).get("voicebot_call_slots_in_use", 0.0))
            served.api("POST", f"/api/campaigns/{cid}/stop", {})
            wait_for(lambda: served.api("GET", "/api/live")[1]["calls_in_flight"] == 0, 60)
            status, calls = served.api("GET", f"/api/campaigns/{cid}/calls?limit=100")
            metrics = _metrics(served)
    attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    wave = sorted(attempts, key=lambda a: a["started_at"])[:12]
    assert {a["state"] for a in wave} == {"completed"}
    assert {a["disposition"] for a in wave} == {"answered"}
    assert len({a["borrower_id"] for a in wave}) == 12
    assert peak_overlap(attempts) <= 12 and peak_in_use <= 12
    assert peak_overlap(wave) > 4  # more than one process's worth of calls at once
    by_attempt = {c["attempt_id"]: c for c in calls["calls"]}
    for attempt in wave:
        call = by_attempt[attempt["id"]]
        assert call["has_recording"], call
        wav = tmp_path / "recordings" / f"{attempt['id']}.wav"
        assert wav.is_file() and wav.stat().st_size > 44 + 8000  # over half a second of 8 kHz audio
    assert metrics["voicebot_workers_up"] == 3
    assert sum(v for k, v in metrics.items() if k.startswith("voicebot_sessions_ended_total")) >= 12
    assert metrics.get("voicebot_borrower_frames_total", 0) > 0


def test_sigkill_of_a_worker_mid_call_loses_only_its_attempts_and_is_replaced(tmp_path: Path) -> None:
    """SIGKILL one worker while calls are up: its attempts are lost/worker_lost, others complete, it is replaced."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port, max_concurrent=8, extra=WORKER_SESSION_CONFIG)
        with serve(tmp_path, config, ("--workers", "2")) as served:
            pids = worker_pids(served)
            assert len(pids) == 2
            cid = start_campaign(served, zone, 8, 8)
            wait_for(lambda: all(w["in_use"] >= 1 for w in served.api("GET", "/api/workers")[1]["workers"]), 30,
                     step=0.1)
            time.sleep(4.0)  # past the 1.5 s of ringing: the calls are answered and in their sessions
            victim = pids[0]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: any(a["disposition"] == "worker_lost" for a in stored_attempts(served.store)), 15)
            wait_for(lambda: len(worker_pids(served)) == 2 and victim not in worker_pids(served), 60)
            workers = served.api("GET", "/api/workers")[1]["workers"]
            served.api("POST", f"/api/campaigns/{cid}/stop", {})
            wait_for(lambda: served.api("GET", "/api/live")[1]["calls_in_flight"] == 0, 90)
            metrics = _metrics(served)
    attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    lost = [a for a in attempts if a["state"] == "lost"]
    assert lost and {a["disposition"] for a in lost} == {"worker_lost"}
    assert len(lost) <= 4  # only the killed worker's calls
    completed = [a for a in attempts if a["state"] == "completed"]
    assert len(completed) >= 4 and {a["disposition"] for a in completed} == {"answered"}
    assert not [a for a in attempts if a["state"] == "pending"]
    assert sum(w["restarts"] for w in workers) == 1
    assert metrics["voicebot_worker_restarts_total"] == 1
    kept = [tmp_path / "recordings" / f"{a['id']}.wav" for a in lost]
    kept = [p for p in kept if p.is_file()]  # calls still ringing at the kill have none
    assert kept
    for path in kept:  # the partial recording stays playable: its header declares all the audio on disk
        # (how much is on disk depends on when pjsua last flushed its writer buffer before the kill)
        with wave.open(str(path)) as wav:
            assert wav.getnframes() > 0 and wav.getnframes() * 4 + 44 == path.stat().st_size


def test_sigterm_drains_then_hangs_up_with_reason_shutdown_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM mid-call: no new dials, live calls get drain_seconds (3 s), then end with reason shutdown; exit 0."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port, max_concurrent=4, extra=WORKER_SESSION_CONFIG)
        with serve(tmp_path, config, ("--workers", "2")) as served:
            start_campaign(served, zone, 4, 4)
            wait_for(lambda: served.api("GET", "/api/live")[1]["calls_in_flight"] == 4, 30, step=0.1)
            time.sleep(2.5)  # answered, sessions running
            before = {a["id"] for a in stored_attempts(served.store)}
            sent = time.monotonic()
            os.kill(served.proc.pid, signal.SIGTERM)
            code = served.proc.wait(60)
            took = time.monotonic() - sent
    attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    assert code == 0
    assert 3.0 <= took < 40
    assert {a["id"] for a in attempts} == before  # nothing new was dialled
    assert {a["state"] for a in attempts} == {"completed"}
    con = sqlite3.connect(tmp_path / "campaigns.sqlite3")
    try:
        reasons = [json.loads(r[0]).get("end_reason") for r in con.execute("SELECT record FROM calls")]
    finally:
        con.close()
    assert reasons and set(reasons) == {"shutdown"}


def test_workers_that_cannot_start_are_reported_and_serve_refuses_to_run(tmp_path: Path) -> None:
    """A model that does not exist: every worker fails at start-up, says why, and serve exits 1 naming the workers."""
    import subprocess
    import sys

    from serve_harness import ROOT

    config = write_config(tmp_path, 5060, extra=f"""
[asr]
recognizer = "vosk"
model_path = "{tmp_path / 'no-such-model'}"
""")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "serve", "--config", str(config), "--workers", "2"],
        cwd=ROOT, capture_output=True, timeout=120, start_new_session=True,
    )
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, err[-2000:]
    assert "none of the 2 call workers could start" in err
    assert err.count("cannot start the call session") >= 2 and "no-such-model" in err
    assert '"event": "workers.restart"' in err and b"serving" not in proc.stdout


def test_second_sigint_stops_at_once_without_waiting_for_the_drain(tmp_path: Path) -> None:
    """SIGINT starts a 30 s drain; a second SIGINT kills the workers and exits at once (130); attempts stay pending."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port, max_concurrent=2, extra=WORKER_SESSION_CONFIG.replace(
            "drain_seconds = 3", "drain_seconds = 30"))
        with serve(tmp_path, config, ("--workers", "2")) as served:
            pids = worker_pids(served)
            start_campaign(served, zone, 2, 2)
            wait_for(lambda: served.api("GET", "/api/live")[1]["calls_in_flight"] == 2, 30, step=0.1)
            time.sleep(2.5)
            os.kill(served.proc.pid, signal.SIGINT)
            time.sleep(1.0)
            assert served.proc.poll() is None  # draining: the calls may go on
            sent = time.monotonic()
            os.kill(served.proc.pid, signal.SIGINT)
            code = served.proc.wait(15)
            took = time.monotonic() - sent
    assert code == 130 and took < 5
    for pid in pids:  # gone, or a zombie left for init to reap
        assert wait_for(lambda pid=pid: process_state(pid) in ("gone", "Z", "X"), 5, step=0.1)
    assert {a["state"] for a in stored_attempts(tmp_path / "campaigns.sqlite3")} == {"pending"}

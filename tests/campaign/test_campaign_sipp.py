"""Integration: `server.py serve` places real SIP calls to sipp; a kill -9 mid-campaign loses nothing."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from serve_harness import (
    borrower_lines,
    daytime_zone,
    serve,
    sipp_uas,
    stored_attempts,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration


def _start_campaign(served: object, zone: str, borrowers: int) -> str:
    api = served.api  # type: ignore[attr-defined]
    status, campaign = api("POST", "/api/campaigns", {"name": "sipp", "strategy": "demo_fast", "timezone": zone,
                                                      "max_concurrent_calls": 2, "calls_per_second": 5})
    assert status == 201, campaign
    status, report = api("POST", f"/api/campaigns/{campaign['id']}/borrowers?filename=b.jsonl",
                         raw=borrower_lines(borrowers, zone), content_type="application/x-ndjson")
    assert status == 200 and report["inserted"] == borrowers, report
    assert api("POST", f"/api/campaigns/{campaign['id']}/start", {})[0] == 200
    return str(campaign["id"])


def test_serve_dials_sipp_and_stores_every_attempt_within_caps(tmp_path: Path) -> None:
    """Real INVITEs reach sipp; each is a stored, completed attempt; no borrower exceeds 3 a day (C3)."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        with serve(tmp_path, config) as served:
            cid = _start_campaign(served, zone, 3)
            wait_for(lambda: served.api("GET", f"/api/campaigns/{cid}/progress")[1]["attempts_left_today"] == 0, 60)
            wait_for(lambda: served.api("GET", f"/api/campaigns/{cid}/progress")[1]["calls_in_flight"] == 0, 20)
            progress = served.api("GET", f"/api/campaigns/{cid}/progress")[1]
            status, calls = served.api("GET", f"/api/campaigns/{cid}/calls")
            assert status == 200
        invites = sipp.invite_call_ids()
    attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    assert progress["dispositions"] == {"answered": 9}
    assert len(attempts) == 9 and {a["state"] for a in attempts} == {"completed"}
    assert Counter(a["borrower_id"] for a in attempts) == {"K000": 3, "K001": 3, "K002": 3}
    assert len(invites) == 9
    assert {c["sip_code"] for c in calls["calls"]} == {200}


def test_kill_9_mid_campaign_loses_no_attempt_and_keeps_caps(tmp_path: Path) -> None:
    """kill -9 while calls are live, restart on the same store: every INVITE has an attempt, caps hold."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        with serve(tmp_path, config) as first:
            cid = _start_campaign(first, zone, 4)
            wait_for(lambda: first.api("GET", f"/api/campaigns/{cid}/progress")[1]["attempts"] >= 5, 40, step=0.05)
            os.kill(first.proc.pid, signal.SIGKILL)
            first.proc.wait(10)
        before = stored_attempts(tmp_path / "campaigns.sqlite3")
        pending_at_kill = {a["id"] for a in before if a["state"] == "pending"}
        assert pending_at_kill, "the kill should land while an attempt is between INVITE and result"
        with serve(tmp_path, config) as second:
            wait_for(lambda: second.api("GET", f"/api/campaigns/{cid}/progress")[1]["attempts_left_today"] == 0, 60)
            wait_for(lambda: second.api("GET", f"/api/campaigns/{cid}/progress")[1]["calls_in_flight"] == 0, 20)
        invites = sipp.invite_call_ids()
    after = stored_attempts(tmp_path / "campaigns.sqlite3")
    by_id = {a["id"]: a for a in after}
    assert set(a["id"] for a in before) <= set(by_id)  # nothing written before the crash disappeared
    assert all(by_id[i]["state"] == "lost" and by_id[i]["disposition"] == "unknown" for i in pending_at_kill)
    assert {a["state"] for a in after} <= {"completed", "lost"}
    assert len(invites) <= len(after)  # every INVITE that left had its attempt written first
    per_day = Counter((a["borrower_id"], dt.datetime.fromtimestamp(a["started_at"], ZoneInfo(zone)).date())
                      for a in after)
    assert max(per_day.values()) <= 3 and len(per_day) == 4
    assert sum(per_day.values()) == 12

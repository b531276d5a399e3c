"""Integration: `serve` with a recording directory that cannot be created still places and stores calls."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from serve_harness import borrower_lines, daytime_zone, serve, sipp_uas, stored_attempts, wait_for, write_config

pytestmark = pytest.mark.integration


def test_unusable_recording_dir_calls_go_on_are_stored_and_logged_once_each(tmp_path: Path) -> None:
    """recording_dir under a regular file (ENOTDIR even for root): every attempt completes and is stored,
    its call row has no recording, and each call logs `call.recording_failed` exactly once."""
    zone = daytime_zone()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        config.write_text(config.read_text().replace(
            f'recording_dir = "{tmp_path / "recordings"}"', f'recording_dir = "{blocker / "recordings"}"'))
        assert str(blocker / "recordings") in config.read_text()
        with serve(tmp_path, config) as served:
            api = served.api
            status, campaign = api("POST", "/api/campaigns", {"name": "rec", "strategy": "demo_fast",
                                                              "timezone": zone, "max_concurrent_calls": 1})
            assert status == 201, campaign
            cid = campaign["id"]
            status, report = api("POST", f"/api/campaigns/{cid}/borrowers?filename=b.jsonl",
                                 raw=borrower_lines(1, zone), content_type="application/x-ndjson")
            assert status == 200, report
            assert api("POST", f"/api/campaigns/{cid}/start", {})[0] == 200
            progress = lambda: api("GET", f"/api/campaigns/{cid}/progress")[1]  # noqa: E731
            wait_for(lambda: progress()["attempts_left_today"] == 0, 60)
            wait_for(lambda: progress()["calls_in_flight"] == 0, 20)
            assert progress()["dispositions"] == {"answered": 3}
    attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    assert len(attempts) == 3 and {a["state"] for a in attempts} == {"completed"}
    con = sqlite3.connect(tmp_path / "campaigns.sqlite3")
    try:
        recordings = [r[0] for r in con.execute("SELECT recording FROM calls")]
    finally:
        con.close()
    assert recordings == [None, None, None]
    log = (tmp_path / "serve.log").read_text()
    assert log.count("call.recording_failed") == 3, log[-3000:]
    assert "Not a directory" in log

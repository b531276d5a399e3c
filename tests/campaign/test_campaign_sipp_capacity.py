"""Integration: a trunk allowing 10 calls on one 4-slot pjsua2 call worker; serve never overfills it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from serve_harness import (
    borrower_lines,
    daytime_zone,
    peak_overlap,
    serve,
    sipp_uas,
    stored_attempts,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

BORROWERS = 6


def test_serve_paces_to_the_endpoint_slots_with_no_lost_attempts(tmp_path: Path) -> None:
    """Campaign and trunk allow 10 calls: at most 4 are live, every borrower is answered, none gets a trunk_error."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port, max_concurrent=10)
        with serve(tmp_path, config, ("--no-session", "--workers", "1")) as served:  # 4 slots: one call worker
            status, campaign = served.api("POST", "/api/campaigns", {
                "name": "wide", "strategy": "demo_fast", "timezone": zone, "max_concurrent_calls": 10,
                "calls_per_second": 10, "caller_id": "95533001"})
            assert status == 201, campaign
            cid = campaign["id"]
            status, report = served.api("POST", f"/api/campaigns/{cid}/borrowers?filename=b.jsonl",
                                        raw=borrower_lines(BORROWERS, zone), content_type="application/x-ndjson")
            assert status == 200 and report["inserted"] == BORROWERS, report
            assert served.api("POST", f"/api/campaigns/{cid}/start", {})[0] == 200
            wait_for(lambda: len({a["borrower_id"] for a in stored_attempts(served.store) if a["completed_at"]})
                     == BORROWERS, 40)
        attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    first_calls = {a["borrower_id"]: a for a in reversed(attempts)}
    assert {a["disposition"] for a in first_calls.values()} == {"answered"}
    assert "trunk_error" not in {a["disposition"] for a in attempts}
    assert peak_overlap(attempts) <= 4
    events = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.startswith("{")]
    warnings = [e for e in events if e.get("event") == "campaign.trunk_over_capacity"]
    assert len(warnings) == 1 and warnings[0]["trunk"] == "sipp" and warnings[0]["effective"] == 4
    assert _from_users(tmp_path / "sipp") == {"95533001"}  # the campaign's caller ID, not the trunk's 4000


def _from_users(sipp_dir: Path) -> set[str]:
    """User parts of the From headers of the INVITEs sipp received (the caller IDs shown to borrowers)."""
    users: set[str] = set()
    for log in sipp_dir.glob("*_messages.log"):
        for block in log.read_text(errors="replace").split("----------------------------------------------"):
            if "INVITE sip:" in block and "received" in block:
                m = re.search(r"^From:\s*<?sip:([^@>;]+)@", block, re.MULTILINE | re.IGNORECASE)
                if m:
                    users.add(m.group(1))
    return users

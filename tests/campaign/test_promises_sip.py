"""Integration: promises end to end over real SIP.

A sim persona promises on a real call (`server.py demo`: pjsua2, session, dialogue, sim phone) and a
payments import through the CLI and the API of `server.py serve` marks that stored promise kept;
a broken promise makes `serve` place exactly one broken-promise call to sipp inside the window.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from serve_harness import (
    TOKEN,
    borrower_lines,
    daytime_zone,
    serve,
    sipp_uas,
    stored_attempts,
    stored_rows,
    wait_for,
    write_config,
)
from shared_runs import DemoRun

from server import build_parser

pytestmark = pytest.mark.integration


def _promise_rows(db: Path) -> list[sqlite3.Row]:
    return stored_rows(db, "promises", "created_at")


@pytest.mark.slow
def test_payment_import_marks_a_promise_made_on_a_real_call_kept(tmp_path: Path, demo_run: DemoRun) -> None:
    """demo-01 (cooperative_promise) promises over SIP; `payments import` via serve's API marks it kept."""
    done = demo_run.done
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (demo_db,) = demo_run.out.glob("run-*/campaigns.sqlite3")
    (promise,) = [p for p in _promise_rows(demo_db) if p["borrower_id"] == "demo-01"]
    assert (promise["borrower_id"], promise["state"]) == ("demo-01", "pending")
    assert promise["call_id"] and promise["amount"] > 0
    with sqlite3.connect(demo_db) as src, sqlite3.connect(tmp_path / "campaigns.sqlite3") as dst:
        src.backup(dst)  # serve runs on the store the real call wrote
    feed = tmp_path / "payments.jsonl"
    feed.write_text(json.dumps({"borrower_id": "demo-01", "amount": promise["amount"], "reference": "BANK-0001",
                                "paid_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}) + "\n")
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        with serve(tmp_path, config) as served:
            args = build_parser().parse_args(["payments", "--url", served.base, "--token", TOKEN, "import", str(feed)])
            out, err = io.StringIO(), io.StringIO()
            assert args.run(args, out, err) == 0, err.getvalue()
            assert "1 new" in out.getvalue() and "promises kept 1" in out.getvalue()
            status, body = served.api("GET", "/api/promises?state=kept")
            assert status == 200 and [p["id"] for p in body["promises"]] == [promise["id"]]
            assert [h["state"] for h in body["promises"][0]["history"]] == ["pending", "kept"]
    kept = {p["borrower_id"]: p["state"] for p in _promise_rows(tmp_path / "campaigns.sqlite3")}
    assert kept["demo-01"] == "kept"


def _seed_broken(db: Path, campaign_id: str, borrower_id: str, zone: str) -> None:
    """The state an earlier call leaves behind: a pending promise for three days ago, the borrower parked."""
    today = dt.datetime.now(ZoneInfo(zone)).date()
    made = time.time() - 5 * 86400
    con = sqlite3.connect(db)
    try:
        with con:
            con.execute(
                "INSERT INTO promises (id, borrower_id, campaign_id, call_id, promised_date, amount, confirmed, state,"
                " timezone, created_at, updated_at) VALUES ('ptp-seeded', ?, ?, NULL, ?, 1000, 1, 'pending', ?, ?, ?)",
                (borrower_id, campaign_id, (today - dt.timedelta(days=3)).isoformat(), zone, made, made))
            con.execute("INSERT INTO promise_history (promise_id, at, state, detail) VALUES ('ptp-seeded', ?,"
                        " 'pending', '{}')", (made,))
            con.execute("UPDATE borrowers SET next_due_at = NULL, next_reason = 'ptp_pending' WHERE campaign_id = ?"
                        " AND borrower_id = ?", (campaign_id, borrower_id))
    finally:
        con.close()


def test_broken_promise_places_exactly_one_follow_up_call_inside_the_window(tmp_path: Path) -> None:
    """At start `serve` reconciles: the promise is broken and one broken_promise INVITE reaches sipp, once."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        with serve(tmp_path, config) as first:
            status, campaign = first.api("POST", "/api/campaigns", {"name": "ptp", "strategy": "demo_fast",
                                                                    "timezone": zone})
            assert status == 201
            cid = campaign["id"]
            status, _ = first.api("POST", f"/api/campaigns/{cid}/borrowers?filename=b.jsonl",
                                  raw=borrower_lines(1, zone), content_type="application/x-ndjson")
            assert status == 200
        _seed_broken(tmp_path / "campaigns.sqlite3", cid, "K000", zone)
        with serve(tmp_path, config) as second:
            assert second.api("GET", "/api/promises?state=broken")[1]["promises"][0]["id"] == "ptp-seeded"
            assert second.api("POST", f"/api/campaigns/{cid}/start", {})[0] == 200
            wait_for(lambda: second.api("GET", f"/api/campaigns/{cid}/progress")[1]["attempts_left_today"] == 0, 60)
            wait_for(lambda: second.api("GET", f"/api/campaigns/{cid}/progress")[1]["calls_in_flight"] == 0, 20)
            promise: dict[str, Any] = second.api("GET", "/api/promises")[1]["promises"][0]
        invites = sipp.invite_call_ids()
    attempts = stored_attempts(tmp_path / "campaigns.sqlite3")
    reasons = [a["reason"] for a in attempts]
    assert reasons[0] == "broken_promise" and reasons.count("broken_promise") == 1, reasons
    assert len(invites) == len(attempts) == 3  # the follow-up and the retries demo_fast allows (C3: 3 a day)
    local = dt.datetime.fromtimestamp(attempts[0]["started_at"], ZoneInfo(zone)).time()
    assert dt.time(8, 0) <= local < dt.time(22, 0)
    assert promise["state"] == "broken" and promise["follow_up"] == "done"

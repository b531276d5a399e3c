"""Integration: the dashboard's promises and review panels in real headless chromium against `serve`."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "campaign"))  # the shared serve/sipp harness

from cdp import headless_chromium
from serve_harness import TOKEN, borrower_lines, daytime_zone, serve, sipp_uas, write_config

pytestmark = pytest.mark.integration


def _seed(db: Path, campaign_id: str, zone: str) -> None:
    """What two earlier calls leave: K000 promised 1000 for 2099-01-01; K001 complained."""
    now = time.time()
    con = sqlite3.connect(db)
    try:
        with con:
            con.execute(
                "INSERT INTO promises (id, borrower_id, campaign_id, promised_date, amount, confirmed, state, segment,"
                " script_set, timezone, created_at, updated_at) VALUES ('ptp-1', 'K000', ?, '2099-01-01', 1000, 0,"
                " 'pending', 'm1', 'standard', ?, ?, ?)", (campaign_id, zone, now, now))
            con.execute("INSERT INTO borrower_facts (borrower_id, kind, state, campaign_id, detail, created_at)"
                        " VALUES ('K001', 'complaint', 'open', ?, '{}', ?)", (campaign_id, now))
            con.execute("UPDATE borrowers SET status = 'review', next_due_at = NULL WHERE borrower_id = 'K001'")
    finally:
        con.close()


def test_dashboard_shows_promises_and_resolves_a_review_item(tmp_path: Path) -> None:
    """The panels list the promise (unconfirmed) and the complaint; Resolve empties the queue and resumes K001."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        with serve(tmp_path, config) as first:
            status, campaign = first.api("POST", "/api/campaigns", {"name": "panels", "timezone": zone})
            assert status == 201
            cid = campaign["id"]
            first.api("POST", f"/api/campaigns/{cid}/borrowers?filename=b.jsonl", raw=borrower_lines(2, zone),
                      content_type="application/x-ndjson")
        _seed(tmp_path / "campaigns.sqlite3", cid, zone)
        with serve(tmp_path, config) as served, headless_chromium(tmp_path / "profile") as page:
            page.send("Page.enable")
            page.send("Page.navigate", url=served.base + "/")
            page.wait_for("document.readyState === 'complete' && !!document.getElementById('login')")
            page.evaluate("document.getElementById('token').focus()")
            page.send("Input.insertText", text=TOKEN)
            page.evaluate("document.getElementById('login').click()")
            page.wait_for("!document.getElementById('promises-box').hidden"
                          " && document.getElementById('ptp-captured').textContent === '1'", timeout=15)
            assert page.evaluate("document.getElementById('ptp-pending').textContent") == "1"
            listed = page.wait_for("document.getElementById('ptp-list').textContent", timeout=5)
            assert "2099-01-01" in listed and "1000.00" in listed and "no (hung up" in listed
            assert "standard" in page.evaluate("document.getElementById('ptp-groups').textContent")
            page.wait_for("document.querySelectorAll('#review-list .resolve-review').length === 1", timeout=10)
            assert "K001" in page.evaluate("document.getElementById('review-list').textContent")
            page.evaluate("window.prompt = () => 'agent called back'; window.confirm = () => true;"
                          "document.querySelector('#review-list .resolve-review').click()")
            page.wait_for("document.querySelectorAll('#review-list tr').length === 0", timeout=10)
            status, resolved = served.api("GET", "/api/review?state=resolved")
            assert status == 200 and resolved["items"][0]["resolution"] == "agent called back"
    con = sqlite3.connect(tmp_path / "campaigns.sqlite3")
    try:
        assert con.execute("SELECT status FROM borrowers WHERE borrower_id = 'K001'").fetchone()[0] == "active"
    finally:
        con.close()

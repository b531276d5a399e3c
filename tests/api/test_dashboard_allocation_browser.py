"""Integration: the dashboard's allocation panel in real headless chromium against `serve`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "campaign"))  # the shared serve/sipp harness

from cdp import headless_chromium
from serve_harness import TOKEN, daytime_zone, serve, sipp_uas, write_config

pytestmark = pytest.mark.integration


def test_dashboard_shows_channel_counts_and_moves_after_run_now(tmp_path: Path) -> None:
    """Run now allocates the imported borrowers; the panel shows 1 bot, 1 agent and both moves with their rules."""
    zone = daytime_zone()
    rows = [{"id": "A000", "name": "张伟", "phone": "13800130000", "amount_due": 1000, "overdue_days": 10,
             "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融", "risk_score": 650,
             "timezone": zone},
            {"id": "A001", "name": "张伟", "phone": "13800130001", "amount_due": 80000, "overdue_days": 10,
             "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融", "risk_score": 650,
             "timezone": zone}]
    with sipp_uas(tmp_path / "sipp") as sipp:
        config = write_config(tmp_path, sipp.port)
        with serve(tmp_path, config) as served, headless_chromium(tmp_path / "profile") as page:
            status, campaign = served.api("POST", "/api/campaigns", {"name": "alloc", "timezone": zone})
            assert status == 201
            body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
            served.api("POST", f"/api/campaigns/{campaign['id']}/borrowers?filename=b.jsonl", raw=body,
                       content_type="application/x-ndjson")
            page.send("Page.enable")
            page.send("Page.navigate", url=served.base + "/")
            page.wait_for("document.readyState === 'complete' && !!document.getElementById('login')")
            page.evaluate("document.getElementById('token').focus()")
            page.send("Input.insertText", text=TOKEN)
            page.evaluate("document.getElementById('login').click()")
            page.wait_for("!document.getElementById('allocation-box').hidden", timeout=15)
            page.evaluate("document.getElementById('alloc-run').click()")
            page.wait_for("document.getElementById('alloc-agent').textContent === '1'"
                          " && document.getElementById('alloc-bot').textContent === '1'", timeout=15)
            moves = page.wait_for("document.querySelectorAll('#alloc-moves tr').length === 2"
                                  " && document.getElementById('alloc-moves').textContent", timeout=10)
            assert "senior_agent" in moves and "bot_by_segment" in moves and "A001" in moves
            status, overview = served.api("GET", "/api/allocation")
            assert status == 200 and overview["counts"]["agent"] == 1

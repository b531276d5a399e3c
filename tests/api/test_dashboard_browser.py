"""Integration: the dashboard in real headless chromium signs in, starts a campaign, sees counts change."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "campaign"))  # the shared serve/sipp harness

from cdp import headless_chromium
from serve_harness import TOKEN, borrower_lines, daytime_zone, serve, sipp_uas, write_config

pytestmark = pytest.mark.integration


def test_dashboard_login_start_and_live_counts(tmp_path: Path) -> None:
    """Sign in, only valid buttons enabled, Start, live states, lines, rates and call times shown, open a transcript."""
    zone = daytime_zone()
    with sipp_uas(tmp_path / "sipp") as sipp, serve(tmp_path, write_config(tmp_path, sipp.port),
                                                   ("--no-session", "--workers", "2")) as served:
        status, campaign = served.api("POST", "/api/campaigns", {"name": "browser", "strategy": "demo_fast",
                                                                 "timezone": zone})
        assert status == 201
        cid = campaign["id"]
        served.api("POST", f"/api/campaigns/{cid}/borrowers?filename=b.jsonl", raw=borrower_lines(3, zone),
                   content_type="application/x-ndjson")
        with headless_chromium(tmp_path / "profile") as page:
            page.send("Page.enable")
            page.send("Page.addScriptToEvaluateOnNewDocument", source=(
                "window.__cspViolations = 0; document.addEventListener('securitypolicyviolation',"
                " () => { window.__cspViolations += 1; });"))
            page.send("Page.navigate", url=served.base + "/")
            page.wait_for("document.readyState === 'complete' && !!document.getElementById('login')")
            page.evaluate("document.getElementById('token').focus()")
            page.send("Input.insertText", text=TOKEN)
            page.evaluate("document.getElementById('login').click()")
            page.wait_for("!document.getElementById('campaign-box').hidden")
            state = "document.getElementById('campaign-state').textContent"
            assert page.wait_for(f"{state} !== '-' && {state}") == "draft"  # '-' until the first refresh
            assert page.evaluate("document.getElementById('count-borrowers').textContent") == "3"
            assert page.evaluate("document.getElementById('count-attempts').textContent") == "0"
            enabled = "ACTIONS.filter((a) => !document.getElementById(a).disabled).join(',')"
            assert page.wait_for(f"{enabled} === 'start,stop' && {enabled}") == "start,stop"  # draft: no pause/resume
            assert page.evaluate("document.getElementById('lines').textContent").startswith("0 / 8")  # 2 x 4 slots
            up = "document.getElementById('workers-up').textContent"
            assert page.wait_for(f"{up} === '2 workers up' && {up}") == "2 workers up"
            page.evaluate("document.getElementById('start').click()")
            page.wait_for("document.getElementById('campaign-state').textContent === 'running'")
            assert page.wait_for(f"{enabled} === 'pause,stop' && {enabled}") == "pause,stop"
            live = page.wait_for("[...document.querySelectorAll('#live tr td:nth-child(3)')]"
                                 ".map(td => td.textContent).join(',')", timeout=30)
            assert set(live.split(",")) <= {"dialing", "talking"}
            page.wait_for("Number(document.getElementById('count-attempts').textContent) >= 3", timeout=30)
            rows = page.wait_for("document.getElementById('outcomes').textContent.includes('call: answered')"
                                 " && document.getElementById('outcomes').textContent", timeout=30)
            assert "answered" in rows
            page.wait_for("document.querySelectorAll('#calls tr').length >= 3")
            phones = page.evaluate("[...document.querySelectorAll('#calls tr td:nth-child(2)')]"
                                   ".map(td => td.textContent)")
            assert phones and all("****" in p for p in phones)  # C11: masked on screen too
            started = page.evaluate("[...document.querySelectorAll('#calls tr td:nth-child(3)')]"
                                    ".map(td => td.textContent)")
            assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in started), started
            rate = page.wait_for("document.getElementById('rate-answer').textContent.includes('%')"
                                 " && document.getElementById('rate-answer').textContent")
            assert 0.0 < float(rate.split()[0]) <= 100.0
            assert page.evaluate("document.getElementById('promises').textContent")  # list or "no promises yet"
            assert page.evaluate("document.getElementById('callbacks').textContent")
            violations = page.evaluate("window.__cspViolations || 0")
            assert violations == 0  # the page works under its own Content-Security-Policy
            page.evaluate("document.querySelector('#calls .open-call').click()")
            title = page.wait_for("!document.getElementById('call-detail').hidden"
                                  " && document.getElementById('call-title').textContent")
            assert title.startswith("Call ")
            stored = page.evaluate("sessionStorage.getItem('voicebot-token')")
            assert stored == TOKEN and TOKEN not in json.dumps(page.evaluate("location.href"))

"""Integration (issue 14): a borrower calling back our caller ID over real SIP is answered by an inbound session.

`serve` (a coordinator and one pjsua2 call worker, or the single process with `--workers 0`) with the `sim`
recognizer; a sim phone process places the call from the trunk's address (127.0.0.1) with a borrower's
number as the From user, and speaks a persona (SIP INFO transcripts + espeak audio over RTP).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from serve_harness import (
    WORKER_SESSION_CONFIG,
    Served,
    borrower_lines,
    daytime_zone,
    free_udp_port,
    serve,
    stored_rows,
    wait_for,
    write_config,
)

from sim.process import SimPhoneProcess

pytestmark = pytest.mark.integration

CALLER_ID = "02150001234"
# Confirms, then talks over the notice with a promise (barge-in) and hangs up after the read-back: the
# shortest real conversation that reaches a stored promise (the placeholder prompts are slow espeak).
PERSONAS = """
[defaults]
voice = "cmn"
speed_wpm = 190
reply_gap_ms = [350, 450]
ring_ms = 300
max_call_s = 60

[[personas]]
name = "calls_back"
description = "A borrower calling back: confirms, promises over the notice, hangs up after the read-back."
hangup_after_last = true
lines = [
  { text = "是我。" },
  { text = "我后天还三千。", when = "during_bot", delay_ms = 1500 },
]
"""


def _sip_port(served: Served) -> int:
    m = re.search(r"sip ports? (\d+)", served.banner)
    assert m, served.banner
    return int(m.group(1))


def _caps(db: Path, phone: str, borrower: str) -> tuple[int, int]:
    """What C3 and C2 count for this borrower and number, over all time (the store's own queries' SQL)."""
    con = sqlite3.connect(db)
    try:
        per_borrower = con.execute("SELECT COUNT(*) FROM attempts WHERE borrower_id = ? AND direction = 'outbound'",
                                   (borrower,)).fetchone()[0]
        unanswered = con.execute("SELECT COUNT(*) FROM attempts WHERE phone = ? AND direction = 'outbound'"
                                 " AND COALESCE(disposition, '') != 'answered'", (phone,)).fetchone()[0]
        return int(per_borrower), int(unanswered)
    finally:
        con.close()


def _call_back(tmp_path: Path, port: int, caller: str, name: str) -> SimPhoneProcess:
    personas = tmp_path / "personas.toml"
    personas.write_text(PERSONAS, encoding="utf-8")
    phone = SimPhoneProcess(log_path=tmp_path / f"{name}.log", personas=personas,
                            dial=(f"sip:{CALLER_ID}@127.0.0.1:{port}", "calls_back", caller))
    phone.start()
    return phone


@pytest.mark.parametrize("workers", ["1", "0"])
def test_borrower_calling_back_gets_an_inbound_session_and_strangers_are_refused(tmp_path: Path,
                                                                                 workers: str) -> None:
    """A known borrower's number is answered, confirms identity, promises and hangs up; the attempt is stored
    inbound with the outcome and the promise, and does not count for C2/C3. An unknown number is refused 480
    and nothing is stored."""
    zone = daytime_zone()
    config = write_config(tmp_path, free_udp_port(), extra=WORKER_SESSION_CONFIG)
    with serve(tmp_path, config, ("--workers", workers)) as served:
        status, campaign = served.api("POST", "/api/campaigns", {"name": "back", "timezone": zone,
                                                                  "caller_id": CALLER_ID})
        assert status == 201, campaign
        status, report = served.api("POST", f"/api/campaigns/{campaign['id']}/borrowers?filename=b.jsonl",
                                    raw=borrower_lines(2, zone), content_type="application/x-ndjson")
        assert status == 200 and report["inserted"] == 2, report
        port = _sip_port(served)

        started = time.monotonic()
        phone = _call_back(tmp_path, port, "13800130001", "known")
        try:
            phone.wait_for("call.answered", 20)
            ended = phone.wait_for("call.ended", 40)
        finally:
            phone.stop()
        [attempt] = wait_for(lambda: [a for a in stored_rows(served.store, "attempts", "started_at")
                                      if a["state"] == "completed"], 15)
        call_s = time.monotonic() - started
        assert (attempt["direction"], attempt["reason"], attempt["borrower_id"], attempt["phone"]) == (
            "inbound", "inbound", "K001", "+8613800130001")
        assert attempt["disposition"] == "answered", dict(attempt)
        [call] = stored_rows(served.store, "calls", "created_at")
        assert call["outcome"] == "promise_to_pay", (call["outcome"], ended)
        turns = stored_rows(served.store, "turns", "idx")
        assert turns[0]["node"] == "identity_check/ask" and "本次通话将被录音" in turns[0]["prompt_text"]
        assert "1001" not in turns[0]["prompt_text"]  # the amount: never before identity (C6)
        said = [t["heard_text"] for t in turns if t["heard_text"]]
        assert said == ["是我。", "我后天还三千。"], said
        [promise] = stored_rows(served.store, "promises", "created_at")
        assert promise["amount"] == 3000.0
        assert Path(call["recording"]).stat().st_size > 44
        assert _caps(served.store, "+8613800130001", "K001") == (0, 0)
        assert call_s < 35

        stranger = _call_back(tmp_path, port, "13900000009", "stranger")
        try:
            refused = stranger.wait_for("call.ended", 15)
        finally:
            stranger.stop()
        assert refused["code"] == 480, refused
        assert not stranger.events_named("call.answered")
        assert len(stored_rows(served.store, "attempts", "started_at")) == 1
        assert len(stored_rows(served.store, "calls", "created_at")) == 1

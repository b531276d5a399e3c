"""Integration: the recognizer raising mid-call in a call-worker process (issue 15) ends that call `error`
with its reason, stored; the other calls, on the same worker and on the other one, finish normally.

Real processes: `serve --workers 2` (coordinator + two pjsua2 call workers of two slots each) calling the
simulated-borrower phone (`sim.phone`, espeak-ng speech and SIP INFO transcripts). The fault is the one
the single-process test (tests/session/test_recognizer_fault.py) injects: the sim recognizer's TEST ONLY
`[asr.sim] fault_on_words`; one borrower says those words, so only its call's recognizer raises.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serve_harness import (
    Served,
    daytime_zone,
    peak_overlap,
    serve,
    start_campaign,
    stored_attempts,
    stored_rows,
    wait_for,
    write_config,
)

from sim.process import SimPhoneProcess

pytestmark = pytest.mark.integration

FAULT_WORDS = "故障测试"
CONFIG = f"""
[asr]
recognizer = "sim"
[asr.sim]
fault_on_words = "{FAULT_WORDS}"
[workers]
calls_per_worker = 2
drain_seconds = 3
heartbeat_timeout_s = 10
"""
# borrower_lines(4) gives K000..K003 the phones 13800130000..13800130003.
NUMBERS = """[numbers]
"13800130000" = "recognizer_fault"
"13800130001" = "wrong_number"
"13800130002" = "wrong_number"
"13800130003" = "wrong_number"
"""
PERSONAS = f"""[defaults]
reply_gap_ms = [350, 450]
ring_ms = 300
max_call_s = 60

[[personas]]
name = "recognizer_fault"
description = "Answers the opening with the words that make the test recognizer fail."
lines = [{{ text = "我是{FAULT_WORDS}。" }}, {{ text = "喂？" }}]

[[personas]]
name = "wrong_number"
description = "Does not know the borrower."
hangup_after_last = true
lines = [{{ text = "你打错了，我不认识这个人。" }}]
"""


def _workers(served: Served) -> list[dict[str, int | str]]:
    status, body = served.api("GET", "/api/workers")
    assert status == 200
    return list(body["workers"])


def test_recognizer_raising_in_a_worker_ends_that_call_error_and_the_others_finish(tmp_path: Path) -> None:
    """4 calls at once on 2 workers x 2 slots (so the faulty call shares its worker with one call and the
    other worker carries two): the faulty one is stored `error: recognizer: ...` with the reason, the three
    others end as wrong numbers, no worker dies or restarts."""
    zone = daytime_zone()
    (tmp_path / "numbers.toml").write_text(NUMBERS, encoding="utf-8")
    (tmp_path / "personas.toml").write_text(PERSONAS, encoding="utf-8")
    with SimPhoneProcess(numbers=tmp_path / "numbers.toml", personas=tmp_path / "personas.toml",
                         log_path=tmp_path / "sim-phone.jsonl") as phone:
        config = write_config(tmp_path, phone.port, max_concurrent=4, extra=CONFIG)
        with serve(tmp_path, config, ("--workers", "2")) as served:
            before = _workers(served)
            assert [w["slots"] for w in before] == [2, 2], before
            # `standard`: a hung-up call is retried hours later, so no second attempt runs during the test.
            cid = start_campaign(served, zone, 4, 4, strategy="standard")

            def first_four_done() -> bool:
                return len([a for a in stored_attempts(served.store) if a["state"] == "completed"]) >= 4

            wait_for(first_four_done, 60, step=0.3)
            served.api("POST", f"/api/campaigns/{cid}/stop", {})
            wait_for(lambda: served.api("GET", "/api/live")[1]["calls_in_flight"] == 0, 30)
            after = _workers(served)
    attempts = sorted(stored_attempts(tmp_path / "campaigns.sqlite3"), key=lambda a: a["started_at"])[:4]
    assert {a["borrower_id"] for a in attempts} == {"K000", "K001", "K002", "K003"}
    assert {a["state"] for a in attempts} == {"completed"} and {a["disposition"] for a in attempts} == {"answered"}
    assert peak_overlap(attempts) == 4  # all four up together: two on each worker's two slots
    calls = {c["attempt_id"]: c for c in stored_rows(tmp_path / "campaigns.sqlite3", "calls", "created_at")}
    ends = {a["borrower_id"]: json.loads(calls[a["id"]]["record"])["end_reason"] for a in attempts}
    assert ends["K000"] == f"error: recognizer: InjectedRecognizerFault: injected fault on {FAULT_WORDS!r}", ends
    for borrower in ("K001", "K002", "K003"):
        assert not ends[borrower].startswith("error"), ends
    outcomes = {a["borrower_id"]: calls[a["id"]]["outcome"] for a in attempts}
    assert [outcomes[b] for b in ("K001", "K002", "K003")] == ["wrong_number"] * 3, outcomes
    assert [w["pid"] for w in after] == [w["pid"] for w in before]  # same processes, none restarted
    assert all(w["restarts"] == 0 and w["state"] == "up" for w in after), after
    log = (tmp_path / "serve.log").read_text(encoding="utf-8")
    assert log.count('"session.failed"') == 1, log[-3000:]

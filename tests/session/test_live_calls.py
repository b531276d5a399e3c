"""End to end over real SIP on loopback: the session against simulated borrowers (pjsua2 both sides).

Four calls run at once (the pjsua2 wheel allows four per process), so the module costs about one
minute. The borrowers' words reach the `sim` recognizer by SIP INFO (no Mandarin model can be
installed here); RTP, VAD, endpointing, barge-in, intents, dialogue, prompts and timing are real.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from live_peers import SimPhone, daytime_zone, run_loopback, usable_manifest

from dialogue.borrower import Borrower
from dialogue.prompt import DEBT_VARIABLES
from pcm.wav import read_wav
from session.record import CallRecord

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERSONAS = ["cooperative_promise", "third_party", "interrupter", "silent"]
EXAMPLE_BORROWER = Path(__file__).resolve().parents[2] / "config" / "borrower.example.json"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("live_calls")
    manifest = usable_manifest(out)
    zone = daytime_zone()
    with SimPhone(out) as phone:
        summary = run_loopback(phone.port, PERSONAS, out, timezone=zone, manifest=manifest)
    assert not summary["errors"], summary["errors"]
    records = {c["name"]: CallRecord.from_dict(json.loads(Path(c["record"]).read_text("utf-8")))
               for c in summary["calls"]}
    assert sorted(records) == sorted(PERSONAS)
    return {"records": records, "summary": summary, "zone": zone, "manifest": manifest, "out": out}


def _played_variables(record: CallRecord) -> set[str]:
    return {p[1:] for t in record.turns if t.prompt_frames_played > 0 for p in t.prompt_parts if p.startswith("$")}


def test_promise_to_pay_is_stored_with_date_and_amount(live: dict[str, Any], tmp_path: Path) -> None:
    """The cooperative borrower's promise (date and amount) is in the call record and in the campaign store."""
    from campaign.model import AttemptStart, Campaign, ImportedBorrower
    from campaign.store import SqliteStore

    record: CallRecord = live["records"]["cooperative_promise"]
    assert record.outcome is not None and record.outcome["disposition"] == "promise_to_pay"
    assert record.outcome["ptp_amount"] == 3000.0 and record.outcome["ptp_date"]
    assert record.recognizer == "sim" and record.hangup_by == "bot"
    utterances = [t for t in record.turns if t.event == "utterance"]
    assert len(utterances) >= 3 and all(t.latency_ms is not None and t.latency_ms > 0 for t in utterances)

    store = SqliteStore(tmp_path / "store.sqlite3")
    now = time.time()
    store.create_campaign(Campaign("c1", "live", "running", None, live["zone"], None, "4000", 1, 1.0, now))
    data = json.loads(EXAMPLE_BORROWER.read_text("utf-8"))
    data["id"] = record.borrower_id
    store.upsert_borrowers("c1", [ImportedBorrower(record.borrower_id, data, (data["phone"],), live["zone"])], now)
    assert record.attempt_id is not None
    store.begin_attempt(AttemptStart(record.attempt_id, "c1", record.borrower_id, data["phone"], None, "manual", now))
    store.complete_attempt(record.attempt_id, record, now)
    stored = store.get_call(record.call_id)
    store.close()
    assert stored["outcome"] == "promise_to_pay"
    assert stored["record"]["outcome"]["ptp_date"] == record.outcome["ptp_date"]
    assert stored["record"]["outcome"]["ptp_amount"] == 3000.0
    assert len(stored["turns"]) == len(record.turns)


def test_third_party_hears_no_debt_detail(live: dict[str, Any]) -> None:
    """The borrower's wife hears the creditor and a callback request, never an amount, date or product."""
    from qa.audit import audit_call, load_rules

    record: CallRecord = live["records"]["third_party"]
    assert record.outcome is not None and record.outcome["disposition"] == "third_party"
    assert not record.outcome["identity_confirmed"]
    assert not (_played_variables(record) & DEBT_VARIABLES), _played_variables(record)
    report = audit_call(record, load_rules(), live["zone"])
    assert report.passed, report.violations


def test_barge_in_stops_playback_within_one_frame(live: dict[str, Any]) -> None:
    """The interrupted prompt is recorded as cut, and the bot channel is silent from the next media tick on."""
    record: CallRecord = live["records"]["interrupter"]
    cut = [t for t in record.turns if t.interrupted and t.barge_in_s is not None]
    assert cut, [(t.index, t.interrupted, t.barge_in_s) for t in record.turns]
    turn = cut[0]
    assert 0 < turn.prompt_frames_played < turn.prompt_frames_total
    assert record.recording is not None
    audio = read_wav(record.recording)
    bot = audio.channel("left").astype(np.float64)
    per = audio.rate // 50
    frames = bot[: len(bot) // per * per].reshape(-1, per)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 100  # about -50 dBFS
    assert turn.barge_in_s is not None
    decided = round(turn.barge_in_s / 0.02)  # the tick whose borrower frame completed the decision
    assert loud[decided - 10 : decided].any(), "the bot was not talking before the barge-in"
    still_talking = [i for i in range(decided, decided + 25) if loud[i]]
    # The frame pulled on the deciding tick is already on the wire; the next one must be silence.
    assert not still_talking or still_talking[-1] <= decided + 1, (decided, still_talking)


def test_silence_ends_as_no_response(live: dict[str, Any]) -> None:
    """A borrower who never speaks gets the no-input prompts and the call ends as no_response."""
    record: CallRecord = live["records"]["silent"]
    assert record.outcome is not None and record.outcome["disposition"] == "no_response"
    assert record.end_reason == "no_response" and record.hangup_by == "bot"
    assert [t.event for t in record.turns][1:] and all(t.event == "no_input" for t in record.turns[1:])
    assert all(t.heard_text == "" for t in record.turns)


def test_replay_of_recorded_call_reproduces_turns_and_outcome(live: dict[str, Any]) -> None:
    """Replaying the promise call's recording through the pipeline gives the same turns and outcome."""
    import dataclasses

    from config.server_config import load_server_config
    from dialogue.intents.model import IntentClassifier
    from dialogue.scripts import load_script_library
    from dialogue.segments import load_segments
    from prompts.renderer import build_renderer
    from qa.diff import diff_calls
    from qa.replay import ReplayKit, replay_recording

    record: CallRecord = live["records"]["cooperative_promise"]
    config = load_server_config()
    if live["manifest"] is not None:
        config = dataclasses.replace(config, prompts=dataclasses.replace(config.prompts, manifest=live["manifest"]))
    library = load_script_library()
    kit = ReplayKit(config, IntentClassifier.load(), library, build_renderer(config.prompts, library.fragments),
                    load_segments(config.dialogue.segments_file, script_sets=frozenset(library.script_sets)))
    data = json.loads(EXAMPLE_BORROWER.read_text("utf-8"))
    borrower = Borrower.from_dict({**data, "id": record.borrower_id, "timezone": live["zone"]})
    assert record.recording is not None
    result = replay_recording(record.recording, borrower, kit, live=record)
    diff = diff_calls(record.turns, result.turns, record.outcome, result.outcome)
    assert diff.same, [(t.index, t.changes) for t in diff.turns if not t.same] + list(diff.outcome_changes)
    assert result.notes and "SIMULATION" in result.notes[0]
    assert result.speed > 5

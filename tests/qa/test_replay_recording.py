"""`server.py replay RECORDING.wav`: a demo call's recording is found in its store; real recognition with whisper."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import server
from pcm.wav import write_wav
from session.record import CallRecord, TurnRecord
from tests.asr.synth import speak

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BORROWER = ROOT / "config" / "borrower.example.json"
RATE = 8000
SPEECH_AT_S = 20.0  # after the opening prompt (identification and recording notice) has played
LENGTH_S = 26.0


def _recording(path: Path, text: str) -> None:
    """A stereo call recording: bot channel silent, the borrower saying `text` at SPEECH_AT_S."""
    borrower = np.zeros(int(LENGTH_S * RATE), np.int16)
    voice = speak(text, RATE, voice="cmn-latn-pinyin")
    start = int(SPEECH_AT_S * RATE)
    borrower[start : start + voice.size] = voice
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, np.stack([np.zeros_like(borrower), borrower], axis=1), RATE)


def _demo_run(run: Path, call_id: str, text: str) -> Path:
    """A demo run's layout: RUN/recordings/<call>.wav and RUN/campaigns.sqlite3 holding the sim call."""
    from campaign.model import AttemptStart, Campaign, ImportedBorrower
    from campaign.store import SqliteStore

    wav = run / "recordings" / f"{call_id}.wav"
    _recording(wav, text)
    now = time.time()
    turns = (
        TurnRecord(0, None, None, "", 0, None, None, "opening", "", False, 0, 0, False, None, None, event="opening"),
        TurnRecord(1, SPEECH_AT_S, SPEECH_AT_S + 1.5, text, 0, "greeting", 0.9, "identify", "", True, 0, 0, False,
                   300.0, 20.0),
    )
    record = CallRecord(
        call_id=call_id, borrower_id="B001", attempt_id="a-1", trunk=None, script_set=None, disposition="answered",
        sip_code=200, sip_reason="OK", invite_sent_at=now - 30, ringing_at=None, answered_at=now - 27,
        ended_at=now, hangup_by="remote", end_reason="remote_hangup", recording=str(wav), outcome=None,
        turns=turns, recognizer="sim",
    )
    base = json.loads(EXAMPLE_BORROWER.read_text("utf-8"))
    store = SqliteStore(run / "campaigns.sqlite3")
    store.create_campaign(Campaign("demo", "demo", "running", None, base["timezone"], None, "4000", 4, 1.0, now))
    store.upsert_borrowers("demo", [ImportedBorrower("B001", {**base, "id": "B001"}, (base["phone"],),
                                                     base["timezone"])], now)
    store.begin_attempt(AttemptStart("a-1", "demo", "B001", base["phone"], None, "manual", now))
    store.complete_attempt("a-1", record, now)
    store.close()
    return wav


def test_demo_recording_is_replayed_as_its_stored_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A demo call's recording, given by file name alone, is matched to its call in the run's store and replayed."""
    wav = _demo_run(tmp_path / "run-1", "call-demo-7", "喂，你好")
    assert server.main(["replay", str(wav), "--json"]) == 0
    replay = json.loads(capsys.readouterr().out)["replays"][0]
    assert replay["call_id"] == "call-demo-7" and replay["recognizer"] == "sim"
    assert any("SIMULATION" in note for note in replay["notes"])
    assert "喂，你好" in [t["heard_text"] for t in replay["turns"]]


def test_sim_for_a_bare_recording_names_what_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--recognizer sim` on a recording with no call record is refused, pointing to whisper and --store."""
    wav = tmp_path / "stray-call-9f.wav"
    write_wav(wav, np.zeros((8000, 2), np.int16), RATE)
    assert server.main(["replay", str(wav), "--recognizer", "sim", "--store", str(tmp_path / "none.sqlite3")]) == 2
    err = capsys.readouterr().err
    assert "--recognizer sim is impossible" in err and str(wav) in err
    assert "--recognizer whisper" in err and "--store" in err


@pytest.mark.integration
def test_replay_with_whisper_recognizes_the_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`replay REC.wav --recognizer whisper` turns the borrower's audio into Chinese text in the replayed turns."""
    wav = tmp_path / "stray-call-whisper.wav"
    _recording(wav, "我们这儿没有这个人啊")
    assert server.main(["replay", str(wav), "--recognizer", "whisper", "--json",
                        "--store", str(tmp_path / "none.sqlite3")]) == 0
    replay = json.loads(capsys.readouterr().out)["replays"][0]
    assert replay["recognizer"] == "whisper"
    heard = [t["heard_text"] for t in replay["turns"] if t["event"] == "utterance"]
    assert heard and any(sum(ch in text for ch in "我们这儿没有这个人啊") >= 6 for text in heard), heard

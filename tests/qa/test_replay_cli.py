"""`server.py replay` refuses bad input with a reason and exit code 2, before loading any engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import server
from pcm.wav import write_wav
from session.record import CallRecord


def test_unknown_call_without_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A call id with no store at the given path names the path to fix."""
    assert server.main(["replay", "call-123", "--store", str(tmp_path / "none.sqlite3")]) == 2
    assert "no campaign store at" in capsys.readouterr().err


def test_unknown_call_in_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A call id the store does not hold is named in the error; the store is left as it was."""
    from campaign.store import SqliteStore

    path = tmp_path / "s.sqlite3"
    SqliteStore(path).close()
    before = path.read_bytes()
    assert server.main(["replay", "call-404", "--store", str(path)]) == 2
    assert "no call 'call-404'" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_not_a_recording_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a .wav gets a message saying what is expected."""
    other = tmp_path / "notes.json"
    other.write_text("{}", "utf-8")
    assert server.main(["replay", str(other)]) == 2
    assert "expected a stereo .wav recording" in capsys.readouterr().err


def test_missing_model_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Real recognition without a model folder says what is missing and what to install."""
    wav = tmp_path / "call.wav"
    write_wav(wav, np.zeros((8000, 2), dtype=np.int16), 8000)
    assert server.main(["replay", str(wav), "--model", str(tmp_path / "no-model")]) == 2
    err = capsys.readouterr().err
    assert "Vosk model at" in err and "vosk-model-small-cn" in err


def test_mono_recording_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A mono file cannot hold the borrower channel: exit 1 with the reason, nothing replayed."""
    wav = tmp_path / "mono.wav"
    write_wav(wav, np.zeros(8000, dtype=np.int16), 8000)
    record = CallRecord(
        call_id="c-mono", borrower_id="B001", attempt_id=None, trunk=None, script_set=None, disposition="answered",
        sip_code=200, sip_reason="OK", invite_sent_at=0.0, ringing_at=None, answered_at=0.0, ended_at=1.0,
        hangup_by="bot", end_reason="done", recording=str(wav), outcome=None, recognizer="sim",
    )
    wav.with_suffix(".json").write_text(json.dumps(record.to_dict()), "utf-8")
    assert server.main(["replay", str(wav)]) == 1
    assert "stereo (bot left, borrower right)" in capsys.readouterr().err


class _Built(Exception):
    """Stops the replay once the recognizer has been built."""


def test_replay_builds_vosk_with_no_idle_recognizers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays give every call a fresh Kaldi recognizer (keep_idle=0), so a batch's order cannot change results."""
    import asr.vosk_recognizer as vosk_module

    built: dict[str, object] = {}

    def capture(*args: object, **kwargs: object) -> None:
        built.update(kwargs)
        raise _Built

    monkeypatch.setattr(vosk_module, "shared_vosk_model", lambda path: object())
    monkeypatch.setattr(vosk_module, "VoskRecognizer", capture)
    wav = tmp_path / "call.wav"
    write_wav(wav, np.zeros((8000, 2), dtype=np.int16), 8000)
    with pytest.raises(_Built):
        server.main(["replay", str(wav), "--model", str(tmp_path / "model")])
    assert built.get("keep_idle") == 0

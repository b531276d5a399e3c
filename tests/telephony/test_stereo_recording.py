"""The stereo recorder keeps channels aligned and leaves a playable file when the process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pcm.wav import read_wav
from telephony.recording import StereoRecorder

ROOT = Path(__file__).resolve().parents[2]

_WRITER = """
import sys, time
import numpy as np
sys.path.insert(0, {root!r})
from telephony.recording import StereoRecorder
rec = StereoRecorder({path!r}, 8000)
i = 0
while True:
    bot = np.full(160, 1000 + i % 100, '<i2').tobytes()
    borrower = np.full(160, -(1000 + i % 100), '<i2').tobytes()
    rec.write(bot, borrower)
    i += 1
    if i % 50 == 0:
        print(i, flush=True)
    time.sleep(0.02)
"""


def test_channels_are_interleaved_tick_by_tick(tmp_path: Path) -> None:
    """Each write puts the bot frame left and the borrower frame right at the same sample positions."""
    path = tmp_path / "r.wav"
    rec = StereoRecorder(path, 8000)
    for i in range(10):
        rec.write(np.full(160, i, "<i2").tobytes(), np.full(160, -i, "<i2").tobytes())
    rec.write(np.full(160, 7, "<i2").tobytes(), b"")  # a missing borrower frame becomes silence
    rec.close()
    wav = read_wav(path)
    left, right = wav.channel("left"), wav.channel("right")
    assert len(left) == 11 * 160
    assert all(left[i * 160] == i and right[i * 160] == -i for i in range(10))
    assert left[-1] == 7 and right[-1] == 0


def test_sigkill_leaves_a_playable_file_up_to_the_last_second(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-call leaves a WAV whose header covers all but at most ~1 s."""
    path = tmp_path / "killed.wav"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(root=str(ROOT), path=str(path))],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        ticks = 0
        assert proc.stdout is not None
        while ticks < 150:  # about 3 s of audio written
            line = proc.stdout.readline()
            assert line, "writer died early"
            ticks = int(line)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    time.sleep(0.05)
    wav = read_wav(path)
    seconds = wav.samples.shape[0] / 8000
    assert 1.9 <= seconds <= 3.2
    left, right = wav.channel("left"), wav.channel("right")
    assert np.all(left[::160] >= 1000) and np.all(right[::160] <= -1000)  # aligned, unswapped to the end


def test_buffered_ticks_are_counted_and_flushed_in_order(tmp_path: Path) -> None:
    """Ticks held between flushes count in frames_written, and a flush writes them interleaved in order."""
    path = tmp_path / "b.wav"
    rec = StereoRecorder(path, 8000, flush_interval_s=0.05)  # flush every 400 samples per channel
    for i in range(7):
        rec.write(np.full(160, i + 1, "<i2").tobytes(), np.full(160, -(i + 1), "<i2").tobytes())
        assert rec.frames_written == (i + 1) * 160
    rec.write(np.full(80, 9, "<i2").tobytes(), np.full(160, -9, "<i2").tobytes())  # short bot side: padded
    rec.close()
    wav = read_wav(path)
    left, right = wav.channel("left"), wav.channel("right")
    assert len(left) == 8 * 160
    assert [int(left[i * 160]) for i in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    assert [int(right[i * 160 + 159]) for i in range(7)] == [-1, -2, -3, -4, -5, -6, -7]
    assert int(left[7 * 160 + 79]) == 9 and int(left[7 * 160 + 80]) == 0 and int(right[-1]) == -9

"""WAV reading refuses bad files with a reason; resampling and framing keep duration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pcm.frames import bytes_per_frame, iter_frames
from pcm.resample import StreamResampler, resample
from pcm.wav import WavError, read_wav, write_wav


def test_roundtrip_stereo(tmp_path: Path) -> None:
    """A stereo file written and read back keeps samples and channel order."""
    data = np.stack([np.arange(100, dtype=np.int16), -np.arange(100, dtype=np.int16)], axis=1)
    write_wav(tmp_path / "s.wav", data, 8000)
    audio = read_wav(tmp_path / "s.wav")
    assert audio.rate == 8000 and np.array_equal(audio.channel("right"), -np.arange(100))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a PCM WAV"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "not a PCM WAV"),
        (b"hello world" * 10, "not a PCM WAV"),
    ],
)
def test_corrupt_files_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    """Empty, truncated and non-WAV files raise WavError naming the file."""
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=reason) as info:
        read_wav(path)
    assert str(path) in str(info.value)


def test_empty_wav_is_refused(tmp_path: Path) -> None:
    """A valid header with no samples is an error unless explicitly allowed."""
    write_wav(tmp_path / "e.wav", np.zeros(0, np.int16), 8000)
    with pytest.raises(WavError, match="no audio"):
        read_wav(tmp_path / "e.wav")
    assert read_wav(tmp_path / "e.wav", allow_empty=True).samples.shape == (0, 1)


def test_resample_keeps_duration_and_tone() -> None:
    """A 1 kHz tone resampled 16k->8k keeps its length and its frequency."""
    t = np.arange(16000) / 16000
    tone = (10000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    out = resample(tone, 16000, 8000)
    assert abs(len(out) - 8000) <= 2
    spectrum = np.abs(np.fft.rfft(out.astype(float)))
    assert abs(np.argmax(spectrum) * 8000 / len(out) - 1000) < 5


def test_stream_resampler_matches_length() -> None:
    """Streaming conversion of 20 ms chunks yields the expected total length."""
    rs = StreamResampler(8000, 16000)
    chunks = [rs.process(np.zeros(160, np.int16)) for _ in range(50)]
    chunks.append(rs.process(np.zeros(0, np.int16), last=True))
    assert abs(sum(len(c) for c in chunks) - 16000) <= 4


def test_frames_pad_last() -> None:
    """Framing pads the last partial frame to a full 20 ms."""
    frames = list(iter_frames(np.ones(250, np.int16), 8000))
    assert len(frames) == 2 and all(len(f) == bytes_per_frame(8000) for f in frames)

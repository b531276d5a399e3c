"""Fixed-size frames of 16-bit little-endian PCM: the unit every real-time path exchanges."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pcm.wav import Samples

FRAME_MS = 20


def samples_per_frame(rate: int, ms: int = FRAME_MS) -> int:
    return rate * ms // 1000


def bytes_per_frame(rate: int, ms: int = FRAME_MS) -> int:
    return samples_per_frame(rate, ms) * 2


def iter_frames(samples: Samples, rate: int, ms: int = FRAME_MS, pad: bool = True) -> Iterator[bytes]:
    """Split mono samples into frames of `ms`; the last partial frame is zero-padded when `pad`."""
    n = samples_per_frame(rate, ms)
    data = np.asarray(samples, dtype=np.int16)
    for start in range(0, len(data), n):
        chunk = data[start : start + n]
        if len(chunk) < n:
            if not pad:
                return
            chunk = np.concatenate([chunk, np.zeros(n - len(chunk), np.int16)])
        yield chunk.astype("<i2").tobytes()


def to_samples(frame: bytes) -> Samples:
    return np.frombuffer(frame, "<i2").astype(np.int16)


def rms_dbfs(samples: Samples) -> float:
    """Root-mean-square level in dB relative to full scale; silence is -inf."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return float("-inf") if rms == 0 else 20 * np.log10(rms / 32768.0)

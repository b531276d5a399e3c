"""Sample-rate conversion through libsoxr (high quality, fast enough for real time)."""

from __future__ import annotations

import numpy as np
import soxr

from pcm.wav import Samples


def resample(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """Whole-buffer conversion of mono int16 audio."""
    if from_rate == to_rate or samples.size == 0:
        return np.asarray(samples, dtype=np.int16)
    out = soxr.resample(np.asarray(samples, dtype=np.int16), from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)


class StreamResampler:
    """Chunk-by-chunk conversion for live audio (keeps filter state between 20 ms frames)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, "int16")

    def process(self, samples: Samples, last: bool = False) -> Samples:
        if self._stream is None:
            return samples
        return np.asarray(self._stream.resample_chunk(samples, last=last), dtype=np.int16)

"""Test signals, the RTP pcap writers for sipp's play_pcap_audio (from sim.pcap), and a correlation check.

Channels of a recording are checked by normalized cross-correlation against the signal that was
sent, so the test fails if the audio is missing, swapped, or garbled, not merely if a file is small.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sim.pcap import write_dtmf_pcap, write_rtp_pcap

__all__ = ["best_correlation", "matched_fraction", "noise", "write_dtmf_pcap", "write_rtp_pcap"]

Int16 = npt.NDArray[np.int16]


def noise(seconds: float, seed: int, rate: int = 8000, level: float = 6000.0) -> Int16:
    """Band-limited noise: distinct per seed, so two sides of a call cannot be mistaken for each other."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * rate))
    kernel = np.ones(3) / 3.0  # mild low-pass keeps it well inside G.711's band
    x = np.convolve(x, kernel, mode="same")
    x = x / np.max(np.abs(x)) * level
    return x.astype(np.int16)


def best_correlation(recorded: Int16, reference: Int16, max_lag: int = 8000) -> tuple[float, int]:
    """Highest normalized correlation of `reference` inside `recorded` over lags 0..max_lag samples (FFT)."""
    rec = np.asarray(recorded, np.float64)
    ref = np.asarray(reference, np.float64)
    n = len(ref)
    if n < 400 or len(rec) < n:
        return 0.0, 0
    ref = ref - ref.mean()
    ref_norm = float(np.linalg.norm(ref))
    lags = min(max_lag, len(rec) - n) + 1
    size = 1 << int(np.ceil(np.log2(len(rec) + n)))
    dot = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)[:lags]
    cs = np.concatenate(([0.0], np.cumsum(rec)))
    cs2 = np.concatenate(([0.0], np.cumsum(rec * rec)))
    s1 = cs[n : n + lags] - cs[:lags]
    s2 = cs2[n : n + lags] - cs2[:lags]
    seg_norm = np.sqrt(np.maximum(s2 - s1 * s1 / n, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(seg_norm > 1e-6, dot / (seg_norm * ref_norm if ref_norm else 1.0), 0.0)
    best = int(np.argmax(corr))
    return float(corr[best]), best


def matched_fraction(recorded: Int16, reference: Int16, window: int = 2000, threshold: float = 0.8) -> float:
    """Share of `window`-sample pieces of `reference` found (correlation > threshold) anywhere in `recorded`."""
    pieces = [reference[i : i + window] for i in range(0, len(reference) - window + 1, window)]
    if not pieces:
        return 0.0
    found = sum(1 for p in pieces if best_correlation(recorded, p, max_lag=len(recorded))[0] > threshold)
    return found / len(pieces)

"""Level, trim and fade for one piece of speech, so recordings and TTS sound like one voice.

Loudness is a gated RMS over 20 ms blocks (the idea of EBU R128 gating without K-weighting, which
would mean little in an 8 kHz phone band): blocks of silence and breath do not drag the figure down,
so a short name and a long sentence normalized to the same target sound equally loud.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pcm.wav import Samples

Float = npt.NDArray[np.float32]
FULL_SCALE = 32768.0
_BLOCK_MS = 20
_ABSOLUTE_GATE_DBFS = -60.0
_RELATIVE_GATE_DB = 15.0
_LIMIT = 0.97  # peak ceiling as a fraction of full scale


def to_float(samples: Samples) -> Float:
    return (np.asarray(samples, dtype=np.float32) / FULL_SCALE).astype(np.float32)


def to_int16(signal: Float) -> Samples:
    return np.clip(np.round(signal * FULL_SCALE), -32768, 32767).astype(np.int16)


def _block_energies(signal: Float, rate: int) -> npt.NDArray[np.float64]:
    n = max(1, rate * _BLOCK_MS // 1000)
    usable = len(signal) - len(signal) % n
    if usable == 0:
        return np.array([float(np.mean(np.square(signal, dtype=np.float64)))]) if len(signal) else np.zeros(0)
    blocks = signal[:usable].astype(np.float64).reshape(-1, n)
    return np.asarray(np.mean(np.square(blocks), axis=1))


def speech_level_dbfs(signal: Float, rate: int) -> float:
    """Gated RMS level of speech in dBFS (-inf for silence); a sine at full scale reads -3 dBFS."""
    energies = _block_energies(signal, rate)
    loud = energies[energies > 10 ** (_ABSOLUTE_GATE_DBFS / 10)]
    if loud.size == 0:
        return float("-inf")
    relative = float(np.mean(loud)) * 10 ** (-_RELATIVE_GATE_DB / 10)
    gated = loud[loud >= relative]
    return float(10 * np.log10(np.mean(gated)))


def trim_edges(signal: Float, rate: int, *, below_level_db: float = 30.0, keep_ms: float = 15.0) -> Float:
    """Cut leading/trailing silence: keep from the first to the last 5 ms window within
    `below_level_db` of the speech level, plus `keep_ms` so soft onsets are not clipped."""
    level = speech_level_dbfs(signal, rate)
    if level == float("-inf"):
        return signal[:0]
    win = max(1, rate // 200)
    usable = len(signal) - len(signal) % win
    if usable == 0:
        return signal
    energy = np.mean(np.square(signal[:usable].astype(np.float64)).reshape(-1, win), axis=1)
    threshold = 10 ** ((level - below_level_db) / 10)
    active = np.flatnonzero(energy >= threshold)
    if active.size == 0:
        return signal[:0]
    keep = int(rate * keep_ms / 1000)
    start = max(0, int(active[0]) * win - keep)
    end = min(len(signal), (int(active[-1]) + 1) * win + keep)
    return signal[start:end]


def normalize_level(signal: Float, rate: int, target_dbfs: float) -> Float:
    """Gain to `target_dbfs`; peaks that would pass the ceiling are soft-limited, then the level is
    corrected once more so the limiter costs no loudness."""
    out = signal
    for _ in range(3):
        level = speech_level_dbfs(out, rate)
        if level == float("-inf"):
            return out
        gain = 10 ** ((target_dbfs - level) / 20)
        if abs(gain - 1.0) < 0.005:
            break
        out = _soft_limit(out * np.float32(gain))
    return out.astype(np.float32)


def _soft_limit(signal: Float, knee: float = 0.8, ceiling: float = _LIMIT) -> Float:
    mag = np.abs(signal)
    over = mag > knee
    if not np.any(over):
        return signal
    out = signal.copy()
    span = ceiling - knee
    out[over] = np.sign(signal[over]) * (knee + span * np.tanh((mag[over] - knee) / span))
    return out


def fade_edges(signal: Float, fade_samples: int) -> Float:
    """Raised-cosine fade in and out; two overlapped fades sum to exactly 1 (a clean crossfade)."""
    n = min(fade_samples, len(signal) // 2)
    if n <= 0:
        return signal
    ramp = np.sin(0.5 * np.pi * (np.arange(n, dtype=np.float64) + 0.5) / n) ** 2
    out = signal.astype(np.float32, copy=True)
    out[:n] *= ramp.astype(np.float32)
    out[-n:] *= ramp[::-1].astype(np.float32)
    return out

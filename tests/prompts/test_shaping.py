"""Level measurement, trimming, normalization and fades behave as the splicer relies on."""

from __future__ import annotations

import numpy as np
from prompt_fakes import voiced

from prompts.shaping import fade_edges, normalize_level, speech_level_dbfs, to_float, trim_edges


def test_level_of_a_full_scale_sine_is_minus_3() -> None:
    """The gated RMS of a full-scale sine is -3 dBFS and silence is ignored by the gate."""
    t = np.arange(16000) / 16000
    sine = np.sin(2 * np.pi * 300 * t).astype(np.float32)
    with_silence = np.concatenate([np.zeros(32000, np.float32), sine])
    assert abs(speech_level_dbfs(sine, 16000) + 3.01) < 0.05
    assert abs(speech_level_dbfs(with_silence, 16000) + 3.01) < 0.05
    assert speech_level_dbfs(np.zeros(100, np.float32), 16000) == float("-inf")


def test_trim_removes_edge_silence_but_keeps_margin() -> None:
    """120 ms lead and 150 ms tail silence are cut down to about the 15 ms margin."""
    sig = to_float(voiced("您好", 16000))
    trimmed = trim_edges(sig, 16000, keep_ms=15)
    removed_ms = (len(sig) - len(trimmed)) / 16
    assert 200 < removed_ms < 270
    assert len(trimmed) > 0.3 * 16000


def test_normalize_hits_target_even_when_peaks_need_limiting() -> None:
    """A quiet piece and a loud, peaky piece both end within 0.2 dB of the target, under full scale."""
    quiet = to_float(voiced("本次通话", 16000, level=0.02))
    loud = to_float(voiced("本次通话", 16000, level=0.9))
    for sig in (quiet, loud):
        out = normalize_level(sig, 16000, -14.0)
        assert abs(speech_level_dbfs(out, 16000) + 14.0) < 0.2
        assert np.abs(out).max() <= 0.97


def test_fades_are_complementary() -> None:
    """A fade-out overlapped with a fade-in of the same length sums to exactly one."""
    ones = np.ones(400, np.float32)
    faded = fade_edges(ones, 80)
    assert faded[0] < 0.01 and faded[200] == 1.0
    assert np.allclose(faded[-80:] + faded[:80], 1.0, atol=1e-6)

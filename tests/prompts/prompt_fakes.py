"""Speech-like audio and a counting fake TTS, shared by the prompt tests."""

from __future__ import annotations

import hashlib

import numpy as np

from pcm.wav import Samples
from prompts.tts import Speech


def voiced(text: str, rate: int, *, level: float = 0.3, lead_ms: int = 120, tail_ms: int = 150) -> Samples:
    """Harmonic 'syllables' (one per character) with silence around them, like a TTS or a microphone.

    The pitch and loudness depend on the text so different pieces really differ in level.
    """
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    f0 = 110 + seed % 90
    syllable = int(0.18 * rate)
    n = syllable * max(1, len(text))
    t = np.arange(n) / rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    sig = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = np.sin(np.pi * (np.arange(n) % syllable) / syllable) ** 0.7
    sig = sig * env * level * (0.5 + rng.random()) + rng.normal(0, 0.002, n)
    pad = lambda ms: np.zeros(rate * ms // 1000)  # noqa: E731
    out = np.concatenate([pad(lead_ms), sig / 2.0, pad(tail_ms)])
    return np.clip(np.round(out * 32767), -32768, 32767).astype(np.int16)


class FakeTts:
    """Deterministic stand-in for espeak-ng (22.05 kHz like espeak) that counts its runs."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @property
    def voice_id(self) -> str:
        return "fake:1"

    def synthesize(self, text: str) -> Speech:
        self.calls.append(text)
        return Speech(voiced(text, 22050, level=0.15), 22050)


CATALOGUE = {
    "hello": "您好，",
    "this_is": "这里是",
    "you_owe": "您本期应还",
    "due_by": "，请在",
    "before_end": "之前还款。",
    "notice": "本次通话将被录音。",
}



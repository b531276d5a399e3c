"""The simulated borrower's voice: espeak-ng Mandarin rendered at the call's rate.

Rendering costs ~50-200 ms of CPU per line, so results are cached in memory and, when a cache
directory is given, on disk keyed by voice, speed, rate and text: a second demo run starts at once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from pcm.resample import resample
from pcm.wav import Samples, WavError, read_wav, write_wav
from sim.personas import VoiceSettings


class Voice(Protocol):
    def render(self, text: str, rate: int) -> Samples:
        """Mono int16 samples of `text` spoken at `rate` Hz."""
        ...


class VoiceError(RuntimeError):
    """The speech synthesizer is missing or failed; the message says what to install or check."""


class EspeakVoice:
    """espeak-ng behind the `Voice` interface, thread-safe so lines can be rendered off the reactor."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path | None = None, binary: str = "espeak-ng") -> None:
        found = shutil.which(binary)
        if found is None:
            raise VoiceError(f"{binary} not found: install the Debian package espeak-ng (make sysdeps)")
        self.binary = found
        self.settings = settings
        self.cache_dir = cache_dir
        self._memory: dict[str, Samples] = {}
        self._lock = threading.Lock()

    def _key(self, text: str, rate: int) -> str:
        raw = f"{self.settings.voice}|{self.settings.speed_wpm}|{rate}|{text}".encode()
        return hashlib.sha1(raw).hexdigest()[:20]

    def render(self, text: str, rate: int) -> Samples:
        key = self._key(text, rate)
        with self._lock:
            cached = self._memory.get(key)
        if cached is not None:
            return cached
        samples = self._from_disk(key, rate)
        if samples is None:
            samples = self._synthesize(text, rate)
            if self.cache_dir is not None:
                write_wav(self.cache_dir / f"{key}.wav", samples, rate)
        with self._lock:
            self._memory[key] = samples
        return samples

    def _from_disk(self, key: str, rate: int) -> Samples | None:
        if self.cache_dir is None:
            return None
        file = self.cache_dir / f"{key}.wav"
        if not file.exists():
            return None
        try:
            audio = read_wav(file)
        except WavError:
            return None  # a torn cache file is re-rendered, not trusted
        return audio.channel("mono") if audio.rate == rate else None

    def _synthesize(self, text: str, rate: int) -> Samples:
        with tempfile.TemporaryDirectory(prefix="sim-voice-") as tmp:
            out = Path(tmp) / "line.wav"
            cmd = [
                self.binary, "-v", self.settings.voice, "-s", str(self.settings.speed_wpm),
                "-w", str(out), "--", text,
            ]
            try:
                done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
            except subprocess.TimeoutExpired:
                raise VoiceError(f"espeak-ng took more than 30 s for a {len(text)}-character line") from None
            if done.returncode != 0 or not out.exists():
                err = done.stderr.decode(errors="replace").strip()
                raise VoiceError(f"espeak-ng -v {self.settings.voice} failed ({done.returncode}): {err}")
            audio = read_wav(out)
        samples = trim_silence(audio.channel("mono"), audio.rate)
        return resample(samples, audio.rate, rate)


def trim_silence(samples: Samples, rate: int, threshold: int = 300) -> Samples:
    """Cut leading/trailing near-silence so a line's first frame is speech (the INFO precedes it)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return samples
    pad = rate // 100  # keep 10 ms either side so onsets are not clipped
    return samples[max(0, int(loud[0]) - pad) : int(loud[-1]) + pad]

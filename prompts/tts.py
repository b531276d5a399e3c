"""The TTS seam: only variables (name, amount, date) are synthesized; fixed wording is recorded.

`TextToSpeech` is the interface a deployment implements to plug in a better voice. The default,
`EspeakTts`, runs the `espeak-ng` binary. Its Mandarin voice is `cmn-latn-pinyin`: in espeak-ng 1.51
the plain `cmn` voice looks Chinese characters up as pinyin and then reads that pinyin with English
rules ("三" -> "san one"), see espeak-ng issues #1028 and #1163; the pinyin variant is the same
Mandarin voice with the pinyin read correctly.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pcm.wav import Samples

DEFAULT_VOICE = "cmn-latn-pinyin"


class TtsError(RuntimeError):
    """The engine could not synthesize (missing binary, bad voice, crash, timeout)."""


@dataclass(frozen=True)
class Speech:
    samples: Samples  # mono int16
    rate: int


class TextToSpeech(Protocol):
    @property
    def voice_id(self) -> str:
        """Names engine, voice and settings, so cached audio from another voice is never reused."""
        ...

    def synthesize(self, text: str) -> Speech: ...


class EspeakTts:
    """espeak-ng as a subprocess; text goes in on stdin so personal data never shows in `ps`."""

    def __init__(
        self,
        voice: str = DEFAULT_VOICE,
        *,
        speed_wpm: int = 185,
        pitch: int = 50,
        executable: str = "espeak-ng",
        timeout_s: float = 10.0,
    ) -> None:
        self.voice = voice
        self.speed_wpm = speed_wpm
        self.pitch = pitch
        self.executable = executable
        self.timeout_s = timeout_s

    @property
    def voice_id(self) -> str:
        return f"espeak-ng:{self.voice}:s{self.speed_wpm}:p{self.pitch}"

    def synthesize(self, text: str) -> Speech:
        if not text.strip():
            raise TtsError("nothing to synthesize: empty text")
        raw = self._run(["-v", self.voice, "-s", str(self.speed_wpm), "-p", str(self.pitch), "--stdout"], text)
        return _parse_stream_wav(raw)

    def phonemes(self, text: str) -> str:
        """espeak's phoneme transcription; `(en)` in it means a switch to English reading rules."""
        return self._run(["-v", self.voice, "-q", "-x"], text).decode("utf-8", "replace").strip()

    def _run(self, args: list[str], text: str) -> bytes:
        try:
            done = subprocess.run(
                [self.executable, "-b", "1", *args],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise TtsError(
                f"{self.executable!r} not found: install the Debian package espeak-ng"
            ) from None
        except subprocess.TimeoutExpired:
            raise TtsError(f"{self.executable} took longer than {self.timeout_s} s") from None
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()
            raise TtsError(f"{self.executable} -v {self.voice} failed (exit {done.returncode}): {err}")
        if done.stderr.strip():
            # espeak-ng reports an unknown voice on stderr but still exits 0 with no audio
            raise TtsError(f"{self.executable} -v {self.voice}: {done.stderr.decode('utf-8', 'replace').strip()}")
        return done.stdout


def _parse_stream_wav(raw: bytes) -> Speech:
    """espeak writes a streaming WAV whose size fields are placeholders, so `wave` cannot read it."""
    if len(raw) < 44 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise TtsError("espeak-ng produced no WAV output")
    pos = 12
    rate = 0
    while pos + 8 <= len(raw):
        chunk, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            fmt, channels = int.from_bytes(raw[body : body + 2], "little"), int.from_bytes(
                raw[body + 2 : body + 4], "little"
            )
            rate = int.from_bytes(raw[body + 4 : body + 8], "little")
            bits = int.from_bytes(raw[body + 14 : body + 16], "little")
            if fmt != 1 or channels != 1 or bits != 16:
                raise TtsError(f"espeak-ng produced format {fmt}, {channels} ch, {bits} bit; expected PCM mono 16")
        elif chunk == b"data":
            data = raw[body:]
            data = data[: len(data) - len(data) % 2]
            if not rate:
                raise TtsError("espeak-ng WAV has data before its fmt chunk")
            samples = np.frombuffer(data, "<i2").astype(np.int16)
            if samples.size == 0:
                raise TtsError("espeak-ng produced no audio")
            return Speech(samples=samples, rate=rate)
        pos = body + size + (size & 1)
    raise TtsError("espeak-ng WAV has no data chunk")

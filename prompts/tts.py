"""The TTS seam: only variables (name, amount, date) are synthesized; fixed wording is recorded.

`TextToSpeech` is the interface a deployment implements to plug in a better voice. Two espeak-ng
engines ship: `EspeakTts` (the `espeak-ng` binary as a subprocess; the default: isolated, and the
same words always give the same audio) and `EspeakLibraryTts` (libespeak-ng in-process, ~10x
faster, but its output drifts slightly with what it synthesized before).

The Mandarin voice is `cmn-latn-pinyin`: in espeak-ng 1.51 the plain `cmn` voice looks Chinese
characters up as pinyin and then reads that pinyin with English rules ("三" -> "san one"), see
espeak-ng issues #1028 and #1163; the pinyin variant is the same Mandarin voice with the pinyin read
correctly.
"""

from __future__ import annotations

import ctypes
import subprocess
import threading
from dataclasses import dataclass
from typing import Any, Protocol

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


# libespeak-ng C API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EspeakLibrary:
    """The one libespeak-ng engine of this process: it is global, not reentrant, so one lock guards it."""

    lock = threading.Lock()
    _lib: ctypes.CDLL | None = None
    _callback: Any = None
    rate = 0
    chunks: list[Samples] = []  # noqa: RUF012 - filled by the callback while `lock` is held

    @classmethod
    def get(cls, library: str) -> ctypes.CDLL:
        with cls.lock:
            if cls._lib is None:
                try:
                    lib = ctypes.CDLL(library)
                except OSError as exc:
                    raise TtsError(f"cannot load {library} ({exc}): install the Debian package espeak-ng") from None
                lib.espeak_Initialize.restype = ctypes.c_int
                lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
                lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
                lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
                lib.espeak_Synth.argtypes = [
                    ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                    ctypes.c_void_p, ctypes.c_void_p,
                ]
                rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
                if rate <= 0:
                    raise TtsError(f"{library}: espeak_Initialize failed (is espeak-ng-data installed?)")
                cls._callback = _SynthCallback(cls._collect)  # kept referenced: C holds the pointer
                lib.espeak_SetSynthCallback(cls._callback)
                cls.rate = rate
                cls._lib = lib
            return cls._lib

    @classmethod
    def _collect(cls, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            cls.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.int16))
        return 0


class EspeakLibraryTts:
    """espeak-ng inside this process through libespeak-ng: 2-6 ms per variable instead of the
    20-60 ms a subprocess spends starting and loading the Mandarin dictionary. Calls are serialized
    (the C engine is process-global), which is fine: each takes a few milliseconds.

    Not bit-exact: libespeak-ng keeps state between utterances, so the same words can come out a few
    percent longer or shorter depending on what was said before (a fresh process matches the binary
    exactly). The cache hides this within one server; `render-prompt` may differ from a long-running one.
    """

    def __init__(
        self,
        voice: str = DEFAULT_VOICE,
        *,
        speed_wpm: int = 185,
        pitch: int = 50,
        library: str = "libespeak-ng.so.1",
    ) -> None:
        self.voice = voice
        self.speed_wpm = speed_wpm
        self.pitch = pitch
        self._lib = _EspeakLibrary.get(library)

    @property
    def voice_id(self) -> str:
        return f"libespeak-ng:{self.voice}:s{self.speed_wpm}:p{self.pitch}"

    def synthesize(self, text: str) -> Speech:
        if not text.strip():
            raise TtsError("nothing to synthesize: empty text")
        data = text.encode("utf-8") + b"\0"
        lib = self._lib
        with _EspeakLibrary.lock:
            if lib.espeak_SetVoiceByName(self.voice.encode("utf-8")) != _EE_OK:
                raise TtsError(f"libespeak-ng has no voice {self.voice!r} (see `espeak-ng --voices`)")
            lib.espeak_SetParameter(_PARAM_RATE, self.speed_wpm, 0)
            lib.espeak_SetParameter(_PARAM_PITCH, self.pitch, 0)
            _EspeakLibrary.chunks.clear()
            result = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks = list(_EspeakLibrary.chunks)
            _EspeakLibrary.chunks.clear()
        if result != _EE_OK:
            raise TtsError(f"libespeak-ng could not synthesize (error {result})")
        if not chunks:
            raise TtsError("libespeak-ng produced no audio")
        return Speech(samples=np.concatenate(chunks), rate=_EspeakLibrary.rate)


def make_tts(engine: str, voice: str, speed_wpm: int, pitch: int) -> TextToSpeech:
    """The configured engine: `libespeak-ng` (in-process, fast) or `espeak-ng` (subprocess, isolated)."""
    if engine == "libespeak-ng":
        return EspeakLibraryTts(voice, speed_wpm=speed_wpm, pitch=pitch)
    if engine == "espeak-ng":
        return EspeakTts(voice, speed_wpm=speed_wpm, pitch=pitch)
    raise TtsError(f"unknown TTS engine {engine!r} (known: libespeak-ng, espeak-ng)")

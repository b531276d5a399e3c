"""Reading and writing WAV files as int16 numpy arrays, refusing bad input with a precise reason."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


class WavError(ValueError):
    """A file that is not a usable WAV; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class WavAudio:
    samples: Samples  # shape (frames, channels)
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.rate

    def channel(self, which: str) -> Samples:
        """`left`, `right` or `mono` (the mean of all channels) as a 1-D array."""
        if which == "mono":
            if self.channels == 1:
                return self.samples[:, 0].copy()
            return self.samples.astype(np.int32).mean(axis=1).round().astype(np.int16)
        index = {"left": 0, "right": 1}.get(which)
        if index is None:
            raise ValueError(f"channel must be left, right or mono, not {which!r}")
        if index >= self.channels:
            raise WavError(f"asked for the {which} channel of a {self.channels}-channel file")
        return self.samples[:, index].copy()


def read_wav(path: Path | str, *, allow_empty: bool = False) -> WavAudio:
    """Read a PCM WAV (8/16/24/32-bit, any rate, any channel count) into int16 samples."""
    file = Path(path)
    if not file.exists():
        raise WavError(f"{file}: no such file")
    if file.is_dir():
        raise WavError(f"{file}: is a directory, not a WAV file")
    try:
        with wave.open(str(file), "rb") as wf:
            channels = wf.getnchannels()
            width = wf.getsampwidth()
            rate = wf.getframerate()
            raw = wf.readframes(wf.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavError(f"{file}: not a PCM WAV file ({exc})") from None
    except OSError as exc:
        raise WavError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if channels < 1 or rate <= 0:
        raise WavError(f"{file}: header says {channels} channels at {rate} Hz")
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.int16)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = ((b[:, 0] << 8 | b[:, 1] << 16 | b[:, 2] << 24) >> 16).astype(np.int16)
    elif width == 4:
        data = (np.frombuffer(raw, "<i4") >> 16).astype(np.int16)
    else:
        raise WavError(f"{file}: unsupported sample width of {width} bytes")
    samples = data.reshape(-1, channels)
    if samples.shape[0] == 0 and not allow_empty:
        raise WavError(f"{file}: holds no audio")
    return WavAudio(samples=samples, rate=rate)


def write_wav(path: Path | str, samples: Samples, rate: int) -> None:
    """Write int16 samples, shape (n,) for mono or (n, channels)."""
    data = np.asarray(samples, dtype=np.int16)
    channels = 1 if data.ndim == 1 else int(data.shape[1])
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(file), "wb") as wf:
        wf.setnchannels(channels)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(data.astype("<i2").tobytes())

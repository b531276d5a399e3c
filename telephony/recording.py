"""Per-call stereo recording (bot left, borrower right) that survives the process being killed.

The WAV header is rewritten with the true sizes about once a second, right after the buffered
audio is flushed to the OS, so a SIGKILL leaves a valid file holding everything up to the last
flush. Writes happen on the reactor thread from frames the media thread already paired per tick,
which is what keeps the two channels time-aligned. The two channels of a second are collected as
they come and interleaved in one numpy step at the flush (50 ticks at once instead of an array
per tick); what a SIGKILL can lose is the same: the audio since the last flush.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

_HEADER_BYTES = 44


def _header(rate: int, channels: int, data_bytes: int) -> bytes:
    block = channels * 2
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_bytes),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )


class StereoRecorder:
    """Interleaves one bot frame and one borrower frame per media tick into a 16-bit stereo WAV."""

    def __init__(self, path: Path | str, rate: int, flush_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.rate = rate
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(_header(rate, 2, 0))
        self._data_bytes = 0  # stereo bytes handed to the file object
        self._flushed_bytes = 0  # audio the header on disk describes
        self._flush_every = max(1, int(flush_interval_s * rate * 2))  # bytes of one channel
        self._left = bytearray()  # bot samples since the last flush
        self._right = bytearray()  # borrower samples since the last flush

    @property
    def frames_written(self) -> int:
        return (self._data_bytes + 2 * len(self._left)) // 4

    @property
    def frames_on_disk(self) -> int:
        """Frames that reached the OS with a header describing them (what a crash or a full disk keeps)."""
        return self._flushed_bytes // 4

    def write(self, bot: bytes, borrower: bytes) -> None:
        """Append one tick; the shorter side is padded with silence so the channels stay aligned."""
        if self._file is None:
            return
        self._left += bot
        self._right += borrower
        if len(bot) != len(borrower):
            short = self._left if len(bot) < len(borrower) else self._right
            short.extend(bytes(abs(len(bot) - len(borrower))))
        if len(self._left) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Interleave and write what is buffered, push it to the OS, then make the header say exactly that much."""
        f = self._file
        if f is None:
            return
        if self._left:
            out = np.empty((len(self._left) // 2, 2), "<i2")
            out[:, 0] = np.frombuffer(self._left, "<i2")
            out[:, 1] = np.frombuffer(self._right, "<i2")
            f.write(out.tobytes())
            self._data_bytes += out.nbytes
            self._left.clear()
            self._right.clear()
        f.flush()
        f.seek(4)
        f.write(struct.pack("<I", 36 + self._data_bytes))
        f.seek(40)
        f.write(struct.pack("<I", self._data_bytes))
        f.seek(0, os.SEEK_END)
        f.flush()
        self._flushed_bytes = self._data_bytes

    def abandon(self) -> None:
        """Stop after a write error (disk full, file too large): close without writing more.

        What was flushed before stays a valid WAV, since the header was rewritten at that flush.
        """
        f, self._file = self._file, None
        if f is None:
            return
        with contextlib.suppress(OSError):  # the buffered remainder may fail to go out again
            f.close()

    def close(self) -> None:
        if self._file is None:
            return
        self.flush()
        self._file.close()
        self._file = None

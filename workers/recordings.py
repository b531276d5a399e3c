"""Make the partial recording of a call whose worker died playable.

pjsua's WAV writer puts the RIFF and data chunk sizes in the header when it closes the file; a
worker killed mid-call leaves them at 0, so players see an empty file although the audio is there.
The coordinator rewrites the two sizes from the file's length (nothing else is touched).
"""

from __future__ import annotations

import struct
from pathlib import Path


def repair_wav_sizes(path: Path | str) -> int:
    """Fix the RIFF and `data` sizes of a truncated PCM WAV in place; returns the audio bytes now declared.

    Raises `ValueError` for a file that is not a RIFF/WAVE file with a `data` chunk.
    """
    p = Path(path)
    with p.open("r+b") as f:
        head = f.read(4096)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{p}: not a RIFF/WAVE file")
        offset, block_align = 12, 1
        while offset + 8 <= len(head):
            chunk, size = head[offset:offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
            if chunk == b"fmt " and offset + 8 + 14 <= len(head):
                block_align = max(1, struct.unpack_from("<H", head, offset + 8 + 12)[0])
            if chunk == b"data":
                total = p.stat().st_size
                audio = total - (offset + 8)
                audio -= audio % block_align
                f.seek(4)
                f.write(struct.pack("<I", offset + 8 + audio - 8))
                f.seek(offset + 4)
                f.write(struct.pack("<I", audio))
                return audio
            offset += 8 + size + (size & 1)
    raise ValueError(f"{p}: no data chunk in the first 4096 bytes")

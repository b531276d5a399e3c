"""Rendered variable audio, keyed by content hash and bounded in bytes.

A campaign says the same amounts and dates to many borrowers; a name is said several times in one
call. Keying by a hash of (voice, words, rate, shaping) rather than by borrower means one entry
serves every prompt that speaks the same words, and the key holds no personal data in clear.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.int16]  # pieces are stored as 16-bit: half the bytes of float32, no audible loss


def content_key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


class RenderCache:
    """Thread-safe LRU: renders may run on a worker thread while the reactor reads."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("cache size must be positive")
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Audio] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Audio | None:
        with self._lock:
            audio = self._items.get(key)
            if audio is None:
                self._misses += 1
                return None
            self._items.move_to_end(key)
            self._hits += 1
            return audio

    def put(self, key: str, audio: Audio) -> None:
        """Store read-only audio; an entry larger than the whole cache is not kept."""
        size = int(audio.nbytes)
        if size > self.max_bytes:
            return
        audio.setflags(write=False)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= int(old.nbytes)
            self._items[key] = audio
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= int(evicted.nbytes)
                self._evictions += 1

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                len(self._items), self._bytes, self.max_bytes, self._hits, self._misses, self._evictions
            )

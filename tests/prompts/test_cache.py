"""The variable cache is an LRU bounded in bytes, keyed by content."""

from __future__ import annotations

import numpy as np
import pytest

from prompts.cache import RenderCache, content_key


def block(n: int) -> np.ndarray:
    return np.zeros(n, np.int16)


def test_evicts_least_recently_used_by_bytes() -> None:
    """With room for two 2 kB entries, touching `a` makes `b` the one evicted by `c`."""
    cache = RenderCache(max_bytes=4000)
    cache.put("a", block(1000))
    cache.put("b", block(1000))
    assert cache.get("a") is not None
    cache.put("c", block(1000))
    assert "a" in cache and "c" in cache and "b" not in cache
    stats = cache.stats()
    assert stats.bytes == 4000 and stats.entries == 2 and stats.evictions == 1
    assert stats.hits == 1 and stats.misses == 0


def test_oversized_entry_is_not_kept_and_entries_are_read_only() -> None:
    """An entry bigger than the cache is skipped; stored arrays cannot be changed by a caller."""
    cache = RenderCache(max_bytes=100)
    cache.put("big", block(1000))
    assert "big" not in cache and cache.get("big") is None
    cache.put("small", block(10))
    got = cache.get("small")
    assert got is not None
    with pytest.raises(ValueError):
        got[0] = 1


def test_replacing_a_key_keeps_the_byte_count_right() -> None:
    """Putting the same key twice counts its bytes once."""
    cache = RenderCache(max_bytes=10_000)
    cache.put("k", block(100))
    cache.put("k", block(200))
    assert cache.stats().bytes == 400


def test_content_key_depends_on_every_part() -> None:
    """Same words at another rate or voice are a different entry."""
    assert content_key("v", "三元", 8000) == content_key("v", "三元", 8000)
    assert content_key("v", "三元", 8000) != content_key("v", "三元", 16000)
    assert content_key("v", "三元", 8000) != content_key("w", "三元", 8000)

"""Bearer-token checks for the HTTP API: tokens kept as hashes, and a brake on guessing.

Why hashes: `server.toml` is read by more people than should be able to call the API, so a
token may be configured as `sha256:<hex of the token's SHA-256>` and the file then holds no
secret. Why a per-address brake rather than a lockout: a lockout lets anyone who can reach the
port lock the operators out by sending wrong tokens; slowing only the wrong guesses of one address
(429 with Retry-After) makes guessing useless while a valid token keeps working from anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

HASH_PREFIX = "sha256:"
WINDOW_S = 60.0
MAX_TRACKED_ADDRESSES = 10_000  # memory bound under a spray from many addresses


class Clock(Protocol):
    def seconds(self) -> float: ...


def token_digest(token: str | bytes) -> bytes:
    """SHA-256 of a token as given in an Authorization header (what `sha256:` entries hold)."""
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).digest()


def configured_digests(tokens: tuple[str, ...]) -> tuple[bytes, ...]:
    """Every configured token as a SHA-256 digest; plain entries are hashed here, once."""
    digests = []
    for entry in tokens:
        if entry.startswith(HASH_PREFIX):
            digests.append(bytes.fromhex(entry[len(HASH_PREFIX):]))
        else:
            digests.append(token_digest(entry))
    return tuple(digests)


def token_matches(supplied: bytes, digests: tuple[bytes, ...]) -> bool:
    """Constant-time compare of the supplied token's digest against every configured one."""
    if not supplied:
        return False
    wanted = token_digest(supplied)
    ok = False
    for known in digests:
        ok |= hmac.compare_digest(known, wanted)
    return ok


@dataclass(frozen=True)
class Throttled:
    address: str
    retry_after_s: int


class AuthFailureBrake:
    """Counts wrong tokens per client address over the last minute; past the limit, says wait.

    Only wrong guesses are counted and only they are slowed: `check` is asked after a token failed
    to match, never for a valid one, so a valid token is never refused here.
    """

    def __init__(self, failures_per_minute: int, clock: Clock) -> None:
        self.limit = failures_per_minute
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        stamps = self._failures.get(address)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - WINDOW_S:
            stamps.popleft()
        if not stamps:
            del self._failures[address]
        return stamps

    def check(self, address: str) -> Throttled | None:
        """Is this address over its limit now? (Then the request is refused 429, not counted.)"""
        now = self.clock.seconds()
        stamps = self._recent(address, now)
        if len(stamps) < self.limit:
            return None
        wait = stamps[len(stamps) - self.limit] + WINDOW_S - now
        return Throttled(address, max(1, math.ceil(wait)))

    def record_failure(self, address: str) -> None:
        now = self.clock.seconds()
        stamps = self._recent(address, now)
        if address not in self._failures:
            if len(self._failures) >= MAX_TRACKED_ADDRESSES:
                self._prune(now)
            if len(self._failures) >= MAX_TRACKED_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))  # the oldest-tracked address
            self._failures[address] = stamps
        stamps.append(now)

    def _prune(self, now: float) -> None:
        for address in list(self._failures):
            self._recent(address, now)

    def tracked_addresses(self) -> int:
        return len(self._failures)


class MonotonicClock:
    """The brake's clock when the API is built without a reactor (inline use in tests and tools)."""

    def seconds(self) -> float:
        import time

        return time.monotonic()

"""Drive the global reactor from a synchronous test until a Deferred fires (no reactor.run needed).

pjsua2 callbacks reach the reactor through `callFromThread`, and the endpoint polls pjsua2 from a
`LoopingCall`, so iterating the reactor is all a test needs; it keeps tests plain pytest functions.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

from twisted.internet import defer
from twisted.internet import reactor as _reactor
from twisted.python.failure import Failure

T = TypeVar("T")
reactor: Any = _reactor


def run_until(d: defer.Deferred[T], timeout: float = 10.0) -> T:
    """The Deferred's result; re-raises its failure; `TimeoutError` if it has not fired in time."""
    box: list[Any] = []
    d.addBoth(box.append)
    deadline = time.monotonic() + timeout
    while not box:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Deferred did not fire within {timeout} s")
        reactor.iterate(0.002)
    result = box[0]
    if isinstance(result, Failure):
        result.raiseException()
    return cast(T, result)


def spin(seconds: float) -> None:
    """Let the reactor run for a while (peers act on their own schedule)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reactor.iterate(0.002)

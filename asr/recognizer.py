"""The seam between speech input and a speech recognizer.

A stream is fed audio on the reactor thread and must never block it: a real engine queues the work
onto its worker pool and answers through Deferreds and the partial callback, both on the reactor.
One stream serves one call for its whole life; `finish()` closes the current utterance and readies
the stream for the next one, so per-call engine state (adaptation, buffers) is built once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from config.asr_config import AsrConfig
from telemetry.logging import log_event

log = logging.getLogger(__name__)

PartialListener = Callable[[str], None]


@dataclass(frozen=True)
class RecognitionResult:
    text: str  # normalized (see asr.normalize)
    confidence: float | None = None


class RecognitionClosed(Exception):
    """The stream was closed before this result could be produced (hang-up, shutdown)."""


class RecognitionStream(Protocol):
    def feed(self, pcm: bytes) -> None:
        """Queue 16-bit PCM at the stream's rate; returns at once."""

    def refresh_partial(self) -> None:
        """Produce a partial for the audio fed so far at the next chance, whatever the interval.

        Called when the borrower falls silent, so the session sees the whole answer as a partial
        during the hangover and can end the turn early (`SpeechInput.finalize_now`)."""

    def prefinalize(self) -> None:
        """The borrower has been silent a while: do the costly end-of-utterance work now, ahead of
        the hangover, so `finish()` is quick. Speech after this still belongs to the utterance."""

    def finish(self) -> Deferred[RecognitionResult]:
        """Final result for everything fed since the previous finish; fires on the reactor."""

    def hint(self, text: str) -> None:
        """Words a simulated phone says it is about to speak; real engines ignore them."""

    def drained(self) -> Deferred[None]:
        """Fires when all work queued so far is done (pacing offline runs, orderly shutdown)."""

    def close(self) -> Deferred[None]:
        """Stop: queued work is dropped, pending finishes fail with RecognitionClosed; fires when the
        engine no longer touches this stream's state."""


class Recognizer(Protocol):
    name: str

    def open_stream(self, rate: int, on_partial: PartialListener) -> RecognitionStream: ...


def build_recognizer(config: AsrConfig, reactor: Any, pool: Any) -> Recognizer:
    """The recognizer the config names; the Vosk model loads here so a bad path fails at start-up."""
    if config.recognizer == "sim":
        from asr.sim_recognizer import SimRecognizer

        return SimRecognizer()
    from asr.vosk_recognizer import VoskRecognizer, shared_vosk_model

    model = shared_vosk_model(config.resolved_model_path())
    log_event(log, "asr.recognizer", recognizer="vosk", model_path=str(model.path), model_rate=model.sample_rate)
    return VoskRecognizer(
        model, reactor, pool, partial_interval_ms=config.partial_interval_ms, keep_idle=config.idle_recognizers
    )

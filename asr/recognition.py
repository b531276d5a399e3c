"""The types of the recognizer seam: streams, results and errors, with no engine and no builder.

Engines (`asr.vosk_recognizer`, `asr.sim_recognizer`, `asr.whisper_recognizer`) import these names from
here, and `asr.recognizer` (which builds engines) re-exports them, so the dependency runs one way:
builder -> engines -> this module. Callers keep importing `asr.recognizer`.

A stream is fed audio on the reactor thread and must never block it: a real engine queues the work
onto its worker pool and answers through Deferreds and the partial callback, both on the reactor.
One stream serves one call for its whole life; `finish()` closes the current utterance and readies
the stream for the next one, so per-call engine state (adaptation, buffers) is built once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from twisted.internet.defer import Deferred

PartialListener = Callable[[str], None]


@dataclass(frozen=True)
class RecognitionResult:
    text: str  # normalized (see asr.normalize)
    confidence: float | None = None


class ModelError(ValueError):
    """A speech model is missing or unusable; the message says where, what and what to install."""


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

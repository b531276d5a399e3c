"""Recognizer for simulations: returns the words the simulated phone says it is speaking.

No Mandarin model can be installed from a package registry, so simulated calls carry the borrower's
words beside the audio: before speaking, the simulated phone sends a SIP INFO with content type
`application/x-sim-transcript` whose UTF-8 body is the sentence. The call session passes that body to
`SpeechInput.hint(text)` (which calls `SimStream.hint`). Hints queue in order; each utterance's final
result takes the oldest one (an utterance with no hint waiting gives ""). VAD, endpointing, barge-in
and timing stay real: only the words are handed in, and partials reveal the hint at a speaking pace
so "min characters" barge-in rules behave as with a real engine.

Never chosen silently: only `[asr] recognizer = "sim"` selects it, and it logs a warning when built.
"""

from __future__ import annotations

import logging
from collections import deque

from twisted.internet.defer import Deferred, fail, succeed

from asr.normalize import normalize_transcript
from asr.recognizer import PartialListener, RecognitionClosed, RecognitionResult
from telemetry.logging import log_event

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-sim-transcript"
MS_PER_CHAR = 200  # Mandarin is spoken at roughly 4-5 characters a second


class SimStream:
    def __init__(self, rate: int, on_partial: PartialListener) -> None:
        self._bytes_per_ms = rate * 2 // 1000
        self._on_partial = on_partial
        self._hints: deque[str] = deque()
        self._fed_ms = 0.0
        self._revealed = 0
        self._closed = False

    def hint(self, text: str) -> None:
        if not self._closed:
            self._hints.append(normalize_transcript(text))

    def feed(self, pcm: bytes) -> None:
        if self._closed:
            return
        self._fed_ms += len(pcm) / self._bytes_per_ms
        if not self._hints:
            return
        text = self._hints[0]
        reveal = min(len(text), int(self._fed_ms // MS_PER_CHAR))
        if reveal > self._revealed:
            self._revealed = reveal
            self._on_partial(text[:reveal])

    def refresh_partial(self) -> None:
        """Partials are produced as audio arrives; nothing is pending."""

    def prefinalize(self) -> None:
        """Nothing costly to do ahead of time."""

    def finish(self) -> Deferred[RecognitionResult]:
        if self._closed:
            return fail(RecognitionClosed("sim stream closed"))
        self._fed_ms = 0.0
        self._revealed = 0
        if not self._hints:
            return succeed(RecognitionResult("", None))
        return succeed(RecognitionResult(self._hints.popleft(), 1.0))

    def drained(self) -> Deferred[None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        self._closed = True
        self._hints.clear()
        return succeed(None)


class SimRecognizer:
    name = "sim"

    def __init__(self) -> None:
        log_event(
            log,
            "asr.recognizer",
            logging.WARNING,
            recognizer="sim",
            note="SIMULATION: transcripts are the words the simulated phone sends by SIP INFO, not ASR",
        )

    def open_stream(self, rate: int, on_partial: PartialListener) -> SimStream:
        return SimStream(rate, on_partial)

"""Recognizer for simulations: returns the words the simulated phone says it is speaking.

No Mandarin model can be installed from a package registry, so simulated calls carry the borrower's
words beside the audio: before speaking, the simulated phone sends a SIP INFO with content type
`application/x-sim-transcript` whose UTF-8 body is the sentence. The call session passes that body to
`SpeechInput.hint(text)` (which calls `SimStream.hint`). Hints queue in order; each utterance's final
result takes the oldest one (an utterance with no hint waiting gives ""). VAD, endpointing, barge-in
and timing stay real: only the words are handed in, and partials reveal the hint at a speaking pace
(counting voiced audio only) so "min characters" barge-in rules behave as with a real engine.

One line may reach the recognizer as two utterances when the speaker pauses at a comma longer than
the endpointing allows. An utterance that ends well before its hint is spoken then gets the clauses
actually said (cut at the clause mark nearest to the characters voiced so far) and the rest stays
queued for the next utterance, as a real engine would hear it; a rest nobody speaks is dropped when
the next line's hint arrives.

Never chosen silently: only `[asr] recognizer = "sim"` selects it, and it logs a warning when built.

TEST ONLY, fault injection: with `[asr.sim] fault_on_words` set, an utterance whose words contain that
text fails instead of giving a result (its final errbacks a RuntimeError on the next reactor turn, as an
engine crashing on its pool thread does), so a test can make one chosen call's recognizer raise mid-call,
in this process or in a call worker. Building such a recognizer logs a warning that says so.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

import numpy as np
from twisted.internet.defer import Deferred, fail, succeed

from asr.normalize import normalize_transcript
from asr.recognition import PartialListener, RecognitionClosed, RecognitionResult
from telemetry.logging import log_event

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-sim-transcript"
# Voiced audio per character: espeak-ng cmn at the personas' 190 wpm voices ~250 ms a character,
# a little less here so a line is fully revealed by the time it has been spoken.
MS_PER_CHAR = 220
VOICED_RMS = 300  # int16 RMS of a 20 ms chunk that counts as voiced (about -40 dBFS)
CLAUSE_MARKS = "，、；,;"
PUNCTUATION = CLAUSE_MARKS + "。？！.?!：:"


def _spoken(text: str) -> int:
    return sum(1 for ch in text if ch not in PUNCTUATION)


def _index_after(text: str, spoken: int) -> int:
    """Length of the shortest prefix holding `spoken` spoken characters (punctuation is not said)."""
    count, end = 0, 0
    for i, ch in enumerate(text):
        if ch not in PUNCTUATION:
            if count == spoken:
                return end
            count += 1
            end = i + 1
    return len(text)


def split_at_spoken(text: str, spoken_chars: float) -> tuple[str, str]:
    """(said, rest): cut after the clause mark whose spoken-character count is nearest `spoken_chars`."""
    cuts = [i + 1 for i, ch in enumerate(text) if ch in CLAUSE_MARKS and _spoken(text[i + 1 :]) > 0]
    best = len(text)
    for cut in cuts:
        if abs(_spoken(text[:cut]) - spoken_chars) < abs(_spoken(text[:best]) - spoken_chars):
            best = cut
    return text[:best].rstrip(CLAUSE_MARKS), text[best:]


class InjectedRecognizerFault(RuntimeError):
    """TEST ONLY: the failure `[asr.sim] fault_on_words` injects."""


class SimStream:
    def __init__(self, rate: int, on_partial: PartialListener, fault_on_words: str = "", reactor: Any = None) -> None:
        self._fault_on_words = fault_on_words
        self._reactor = reactor
        self._bytes_per_ms = rate * 2 // 1000
        self._on_partial = on_partial
        self._hints: deque[str] = deque()
        self._rest_queued = False  # the head hint is the unspoken rest of an earlier utterance's line
        self._voiced_ms = 0.0
        self._revealed = 0
        self._closed = False

    def hint(self, text: str) -> None:
        if self._closed:
            return
        if self._rest_queued and self._voiced_ms == 0:
            self._hints.popleft()  # the previous line's rest was never spoken: a new line begins
        self._rest_queued = False
        self._hints.append(normalize_transcript(text))

    def feed(self, pcm: bytes) -> None:
        if self._closed:
            return
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").astype(np.float64)
        # np.mean's own sum and division without its wrapper (the same float), then the RMS.
        if samples.size and math.sqrt(float(np.add.reduce(samples * samples)) / samples.size) >= VOICED_RMS:
            self._voiced_ms += len(pcm) / self._bytes_per_ms
        if not self._hints:
            return
        text = self._hints[0]
        reveal = _index_after(text, int(self._voiced_ms // MS_PER_CHAR))
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
        spoken = self._voiced_ms / MS_PER_CHAR
        self._voiced_ms = 0.0
        self._revealed = 0
        if not self._hints:
            return succeed(RecognitionResult("", None))
        text = self._hints.popleft()
        # Without voiced audio to go by (a very quiet line) the utterance takes the whole line.
        said, rest = split_at_spoken(text, spoken) if spoken > 0 else (text, "")
        self._rest_queued = bool(rest)
        if rest:
            self._hints.appendleft(rest)
        if self._fault_on_words and self._fault_on_words in said:
            return self._fail_later(InjectedRecognizerFault(f"injected fault on {self._fault_on_words!r}"))
        return succeed(RecognitionResult(said, 1.0))

    def _fail_later(self, error: Exception) -> Deferred[RecognitionResult]:
        d: Deferred[RecognitionResult] = Deferred()
        if self._reactor is None:
            d.errback(error)
        else:
            self._reactor.callLater(0, d.errback, error)
        return d

    def drained(self) -> Deferred[None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        self._closed = True
        self._hints.clear()
        return succeed(None)


class SimRecognizer:
    name = "sim"

    def __init__(self, fault_on_words: str = "", reactor: Any = None) -> None:
        """``fault_on_words``: TEST ONLY fault injection (see the module docstring); ``reactor`` delivers it."""
        self.fault_on_words = fault_on_words
        self._reactor = reactor
        log_event(
            log,
            "asr.recognizer",
            logging.WARNING,
            recognizer="sim",
            note="SIMULATION: transcripts are the words the simulated phone sends by SIP INFO, not ASR",
        )
        if fault_on_words:
            log_event(log, "asr.recognizer", logging.WARNING, recognizer="sim",
                      note="TEST FAULT INJECTION: an utterance with these words makes the recognizer fail",
                      fault_on_words=fault_on_words)

    def open_stream(self, rate: int, on_partial: PartialListener) -> SimStream:
        return SimStream(rate, on_partial, self.fault_on_words, self._reactor)

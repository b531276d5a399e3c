"""One call's speech input: frames in, speech events out, all on the reactor thread.

`push(frame, t)` classifies the frame (cheap, inline), runs endpointing and the machine hint, and
feeds utterance audio to the recognizer stream as it arrives, so the final transcript only waits for
the last few frames. Barge-in is judged separately from speech start (see asr.barge_in).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from asr.barge_in import BargeInPolicy
from asr.events import (
    BargeIn,
    FinalTranscript,
    PartialTranscript,
    RecognizerFailed,
    SpeechEnded,
    SpeechEvent,
    SpeechStarted,
)
from asr.machine import ContinuousSpeechDetector
from asr.recognizer import RecognitionClosed, RecognitionResult, Recognizer
from asr.segmenter import SpeechSegmenter, UtteranceEnd
from asr.vad import FrameClassifier, build_frame_classifier
from config.asr_config import AsrConfig
from telemetry.logging import log_event

log = logging.getLogger(__name__)

FRAME_MS = 20
Listener = Callable[[SpeechEvent], None]


class SpeechInput:
    """Per call. `clock` is an IReactorTime (latency is measured with it); `listener` gets events."""

    def __init__(
        self,
        recognizer: Recognizer,
        config: AsrConfig,
        rate: int,
        listener: Listener,
        clock: Any,
        *,
        classifier: FrameClassifier | None = None,
        call_id: str = "",
    ) -> None:
        if rate not in (8000, 16000):
            raise ValueError(f"call audio must be 8000 or 16000 Hz, not {rate}")
        self.rate = rate
        self.frame_bytes = rate * FRAME_MS // 1000 * 2
        self._listener = listener
        self._clock = clock
        self._call_id = call_id
        self._classifier = classifier or build_frame_classifier(rate, config.vad, FRAME_MS)
        self._segmenter = SpeechSegmenter(config.vad, FRAME_MS)
        self._machine = ContinuousSpeechDetector(config.machine, FRAME_MS)
        self._policy = BargeInPolicy(config.barge_in)
        self._stream = recognizer.open_stream(rate, self._on_partial)
        self._utterance = 0
        self._awaiting: deque[int] = deque()  # utterances whose final result is still coming
        self._partial_text = ""  # newest partial of the utterance in progress
        self._partial_counts: dict[int, int] = {}  # utterance -> partials seen, until its final
        self._last_partial: dict[int, str] = {}
        self._barged = False
        self._bot_speaking = False
        self._was_speech = False
        self._silent_frames = 0  # trailing silence inside the utterance in progress
        self._prefinalize_frames = config.prefinalize_ms // FRAME_MS
        self._bot_interruptible = False
        self._last_t = 0.0  # end of the newest frame
        self._last_start = float("-inf")
        self._closed = False
        self._stream_closed: Deferred[None] | None = None

    @property
    def in_utterance(self) -> bool:
        return self._segmenter.in_utterance

    def push(self, frame: bytes, t: float) -> None:
        """One 20 ms frame of 16-bit mono PCM at the call rate; `t` = call time of its first sample."""
        if len(frame) != self.frame_bytes:
            raise ValueError(f"expected a 20 ms frame of {self.frame_bytes} bytes at {self.rate} Hz, got {len(frame)}")
        if t + 1e-9 < self._last_start:
            raise ValueError(f"frame at {t:.3f} s is older than the previous frame at {self._last_start:.3f} s")
        if self._closed:
            return
        self._last_start = t
        self._last_t = t + FRAME_MS / 1000
        is_speech = self._classifier.is_speech(frame)
        machine = self._machine.push(is_speech, t)
        if machine is not None:
            log_event(log, "asr.likely_machine", call_id=self._call_id, speech_s=machine.continuous_speech_s)
            self._listener(machine)
        step = self._segmenter.push(frame, is_speech, t)
        if step.started is not None:
            self._utterance += 1
            self._partial_text, self._barged = "", False
            self._partial_counts[self._utterance] = 0
            self._last_partial[self._utterance] = ""
            self._listener(SpeechStarted(self._utterance, step.started.start_s, step.started.detected_s))
        for audio in step.audio:
            self._stream.feed(audio)
        if self._segmenter.in_utterance:
            self._silent_frames = 0 if is_speech else self._silent_frames + 1
            if self._was_speech and not is_speech:
                self._stream.refresh_partial()  # the answer may be complete: show it during the hangover
            if self._prefinalize_frames and self._silent_frames == self._prefinalize_frames:
                self._stream.prefinalize()
            self._check_barge_in()
        else:
            self._silent_frames = 0
        self._was_speech = is_speech
        if step.ended is not None:
            self._end_utterance(step.ended)

    def bot_speaking(self, speaking: bool, interruptible: bool) -> None:
        """The session says whether a prompt is playing; BargeIn is only raised over an interruptible one."""
        self._bot_speaking = speaking
        self._bot_interruptible = interruptible
        if self._segmenter.in_utterance:
            self._check_barge_in()

    def barge_in_allowed(self) -> bool:
        """Whether the utterance in progress meets the barge-in rule right now."""
        return self._segmenter.in_utterance and self._policy.allows(self._segmenter.speech_s, self._partial_text)

    def finalize_now(self) -> bool:
        """End the utterance in progress and ask for its final result at once (early endpointing).

        Use when a partial is already a complete answer. False when no utterance is in progress.
        Speech that goes on afterwards starts a new utterance after the usual start threshold.
        """
        end = self._segmenter.force_end(self._last_t)
        if end is None:
            return False
        self._end_utterance(end)
        return True

    def hint(self, text: str) -> None:
        """Body of a SIP INFO `application/x-sim-transcript` (see asr.sim_recognizer)."""
        self._stream.hint(text)

    def drained(self) -> Deferred[None]:
        return self._stream.drained()

    def close(self) -> None:
        """Hang-up: an utterance in progress ends with reason "closed"; pending results are dropped."""
        if self._closed:
            return
        if self._segmenter.in_utterance:
            end = self._segmenter.force_end(self._last_t)
            if end is not None:
                self._listener(SpeechEnded(self._utterance, end.start_s, end.end_s, end.detected_s, "closed"))
        self._closed = True
        self._stream_closed = self._stream.close()

    def wait_closed(self) -> Deferred[None]:
        """After close(): fires once the recognizer no longer touches this call (safe to stop the pool)."""
        if self._stream_closed is None:
            raise RuntimeError("wait_closed() before close()")
        done: Deferred[None] = Deferred()
        self._stream_closed.addBoth(lambda _: done.callback(None))
        return done

    def _check_barge_in(self) -> None:
        if self._barged or not (self._bot_speaking and self._bot_interruptible):
            return
        if self.barge_in_allowed():
            self._barged = True
            self._listener(BargeIn(self._utterance, self._last_t, self._segmenter.speech_s, self._partial_text))

    def _on_partial(self, text: str) -> None:
        if self._closed or not text:
            return
        owner = self._awaiting[0] if self._awaiting else self._utterance
        if owner not in self._partial_counts or self._last_partial[owner] == text:
            return
        self._last_partial[owner] = text
        self._partial_counts[owner] += 1
        if owner == self._utterance and self._segmenter.in_utterance:
            self._partial_text = text
        self._listener(PartialTranscript(owner, text, self._last_t))
        if owner == self._utterance and self._segmenter.in_utterance:
            self._check_barge_in()

    def _end_utterance(self, end: UtteranceEnd) -> None:
        number = self._utterance
        self._listener(SpeechEnded(number, end.start_s, end.end_s, end.detected_s, end.reason))
        ended_at = self._clock.seconds()
        self._awaiting.append(number)

        def delivered(result: RecognitionResult) -> None:
            self._awaiting.popleft()
            partials = self._partial_counts.pop(number, 0)
            self._last_partial.pop(number, None)
            self._listener(
                FinalTranscript(
                    number, result.text, end.start_s, end.end_s, partials, result.confidence,
                    round(self._clock.seconds() - ended_at, 4),
                )
            )

        def failed(failure: Failure) -> None:
            if failure.check(RecognitionClosed):
                if self._awaiting and self._awaiting[0] == number:
                    self._awaiting.popleft()
                self._partial_counts.pop(number, None)
                self._last_partial.pop(number, None)
                return
            # A recognizer that raises cannot be trusted with the next utterance either: the call would
            # go on deaf. The listener ends the call `error` with this reason (issue 15).
            log_event(log, "asr.final_failed", logging.ERROR, call_id=self._call_id, error=str(failure.value))
            if self._awaiting and self._awaiting[0] == number:
                self._awaiting.popleft()
            self._partial_counts.pop(number, None)
            self._last_partial.pop(number, None)
            kind = failure.type.__name__ if failure.type is not None else "Error"
            self._listener(RecognizerFailed(number, f"{kind}: {failure.getErrorMessage()}"))

        self._stream.finish().addCallbacks(delivered, failed)

"""Speech input for one session: asr events routed to the session, and early endpointing.

Early endpointing is what gets the voice-to-voice median under the hangover: once the borrower has
been silent for `silence_ms` (shorter than asr's hangover) and the newest partial already reads as
a confident, complete answer, the utterance is finalized at once instead of waiting out the full
hangover, so the recognizer's final is ready early.

A pause that long is sometimes only a comma ("对，下周五还三千" with a long breath after the first
word): the session answers an early final only once the pause reaches `confirm_ms`; if speech
comes back first, the early final is carried into the next utterance and both are one turn. A bare
short yes/no/hello never ends early at all (those are the replies most often continued), nor does
a partial ending at a clause mark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asr.events import (
    BargeIn,
    FinalTranscript,
    LikelyMachine,
    PartialTranscript,
    RecognizerFailed,
    SpeechEnded,
    SpeechEvent,
    SpeechStarted,
)
from asr.sim_recognizer import CLAUSE_MARKS
from asr.speech_input import SpeechInput
from asr.vad import FrameClassifier
from session.call_session import CallSession
from session.ports import ReactorTime


class SilenceWatch:
    """A `FrameClassifier` wrapper that remembers how many frames of silence end the audio so far."""

    def __init__(self, inner: FrameClassifier) -> None:
        self.inner = inner
        self.rate = inner.rate
        self.frame_ms = inner.frame_ms
        self.trailing_silent_frames = 0

    def is_speech(self, frame: bytes) -> bool:
        speech = self.inner.is_speech(frame)
        self.trailing_silent_frames = 0 if speech else self.trailing_silent_frames + 1
        return speech

    @property
    def trailing_silence_ms(self) -> int:
        return self.trailing_silent_frames * self.frame_ms


@dataclass(frozen=True)
class EarlyEndpointing:
    enabled: bool = True
    # Below asr's 300 ms hangover, above the ~160 ms pauses at commas in espeak-ng and much real speech.
    silence_ms: int = 200
    min_chars: int = 2
    # The early final is answered when the pause reaches this (VAD pauses at espeak-ng commas reach
    # 240 ms); speech resuming before it joins the same turn. Equal to silence_ms: no wait.
    confirm_ms: int = 260


CompleteAnswer = Callable[[str], bool]


class SpeechRouter:
    """`SpeechFeed` for the session (frames in) and asr listener (events out), owned per call."""

    def __init__(
        self,
        session: CallSession,
        reactor: ReactorTime,
        watch: SilenceWatch,
        complete: CompleteAnswer | None,
        early: EarlyEndpointing,
    ) -> None:
        self.session = session
        self._reactor = reactor
        self._watch = watch
        self._complete = complete
        self._early = early
        self.speech: SpeechInput | None = None
        self._partial = ""
        self._judged: dict[str, bool] = {}
        self._judging_pause = False  # an early end happened; is the pause after it real?
        self.early_finalized = 0

    def attach(self, speech: SpeechInput) -> None:
        self.speech = speech

    # -- SpeechFeed ---------------------------------------------------------------------------

    def push(self, frame: bytes, t: float) -> None:
        assert self.speech is not None, "attach() first"
        self.speech.push(frame, t)
        if self._judging_pause:
            self._judge_pause(t)
        early = self._early.enabled and self.speech.in_utterance and self._ready()
        if early and self.speech.finalize_now():
            self.early_finalized += 1
            self._judging_pause = True
            self._judge_pause(t)

    def bot_speaking(self, speaking: bool, interruptible: bool) -> None:
        if self.speech is not None:
            self.speech.bot_speaking(speaking, interruptible)

    def close(self) -> None:
        if self.speech is not None:
            self.speech.close()

    def hint(self, text: str) -> None:
        if self.speech is not None:
            self.speech.hint(text)

    # -- asr listener -------------------------------------------------------------------------

    def __call__(self, event: SpeechEvent) -> None:
        s = self.session
        if isinstance(event, SpeechStarted):
            self._partial = ""
            s.speech_started(event.start_s)
        elif isinstance(event, PartialTranscript):
            self._partial = event.text
            s.partial(event.text, event.t)
        elif isinstance(event, SpeechEnded):
            self._partial = ""
            s.speech_ended(event.end_s, early=event.reason == "forced")
        elif isinstance(event, FinalTranscript):
            now = s.clock.call_time(self._reactor.seconds())
            s.final(event.text, event.confidence, now, start_s=event.start_s, end_s=event.end_s,
                    partials=event.partials)
        elif isinstance(event, BargeIn):
            s.barge_in(event.t)
        elif isinstance(event, LikelyMachine):
            s.likely_machine(event.t)
        elif isinstance(event, RecognizerFailed):
            s.recognizer_failed(event.error)

    def _judge_pause(self, t: float) -> None:
        if self._watch.trailing_silent_frames == 0:
            self._judging_pause = False
            self.session.speech_resumed(t)
        elif self._watch.trailing_silence_ms >= self._early.confirm_ms:
            self._judging_pause = False
            self.session.pause_confirmed(t)

    def _ready(self) -> bool:
        if self._complete is None or self._watch.trailing_silence_ms < self._early.silence_ms:
            return False
        text = self._partial
        if len(text) < self._early.min_chars or text[-1] in CLAUSE_MARKS:
            return False
        verdict = self._judged.get(text)
        if verdict is None:
            verdict = self._judged[text] = self._complete(text)
        return verdict

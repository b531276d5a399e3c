"""The recognizer raising mid-call ends that call `error` with the reason; another call goes on."""

from __future__ import annotations

from typing import Any

from session_fakes import Harness, ScriptedConversation
from test_early_endpointing import QUIET, SPEECH, FlagClassifier, say
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from asr.recognition import RecognitionResult
from asr.sim_recognizer import SimRecognizer, SimStream
from asr.speech_input import SpeechInput
from config.asr_config import AsrConfig, MachineSettings
from session.speech import EarlyEndpointing, SilenceWatch, SpeechRouter

LINE = "我已经还了啊"  # one clause: the sim recognizer gives it whole for 1.4 s of speech


class CrashingStream(SimStream):
    """A real sim stream whose final result fails a tick later, as an engine crashing on its thread does."""

    def __init__(self, clock: Clock, rate: int, on_partial: Any) -> None:
        super().__init__(rate, on_partial)
        self._clock = clock

    def finish(self) -> Deferred[RecognitionResult]:
        d: Deferred[RecognitionResult] = Deferred()
        self._clock.callLater(0.01, d.errback, RuntimeError("decoder exploded"))
        return d


class SharedRecognizer(SimRecognizer):
    """One recognizer for both calls (as the shared Vosk pool is); the stream opened for `bad` crashes."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_next: Clock | None = None

    def open_stream(self, rate: int, on_partial: Any) -> SimStream:
        if self.crash_next is not None:
            clock, self.crash_next = self.crash_next, None
            return CrashingStream(clock, rate, on_partial)
        return super().open_stream(rate, on_partial)


def _call(recognizer: SharedRecognizer, crash: bool) -> tuple[Harness, SpeechInput, list[Any]]:
    conversation = ScriptedConversation(say("hello", 5), [say("answer", 5), say("again", 5)])
    h = Harness(conversation)
    watch = SilenceWatch(FlagClassifier())
    router = SpeechRouter(h.session, h.clock, watch, None, EarlyEndpointing(enabled=False))
    if crash:
        recognizer.crash_next = h.clock
    speech = SpeechInput(recognizer, AsrConfig(machine=MachineSettings(enabled=False)), 8000, router, h.clock,
                         classifier=watch)
    router.attach(speech)
    results: list[Any] = []
    h.session.start(router).addCallback(results.append)
    return h, speech, results


def _play(calls: list[Harness], pattern: str) -> None:
    for ch in pattern:
        for h in calls:
            h.clock.advance(0.02)
            h.session.frame_received(SPEECH if ch == "#" else QUIET, h.t)
            h.sent.append(h.queue.pull())


def test_recognizer_raising_ends_that_call_error_and_the_other_call_goes_on() -> None:
    """Two calls share a recognizer; its stream for one crashes on the first answer: that call ends
    `error: recognizer: RuntimeError: decoder exploded` (bot hangs up); the other hears and answers."""
    recognizer = SharedRecognizer()
    bad, bad_speech, bad_result = _call(recognizer, crash=True)
    good, good_speech, good_result = _call(recognizer, crash=False)
    bad_speech.hint(LINE)
    good_speech.hint(LINE)
    _play([bad, good], "." * 10 + "#" * 70 + "." * 40)
    assert bad_result, "the call with the crashed recognizer did not end"
    ended = bad_result[0]
    assert ended.end_reason == "error: recognizer: RuntimeError: decoder exploded"
    assert ended.hangup_by == "bot" and bad.control.hangups == 1
    assert not good_result and good.control.hangups == 0  # still up
    assert [u for kind, u in good.conversation.heard if kind == "utterance"] == [LINE]
    good_speech.hint(LINE)
    _play([good], "." * 30 + "#" * 70 + "." * 40)  # and it keeps hearing
    assert [u for kind, u in good.conversation.heard if kind == "utterance"] == [LINE, LINE]
    good.session.remote_hangup()
    assert good_result and good_result[0].end_reason == "remote_hangup"

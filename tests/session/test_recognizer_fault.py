"""The recognizer raising mid-call ends that call `error` with the reason; another call goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from session_fakes import Harness, ScriptedConversation
from test_early_endpointing import QUIET, SPEECH, FlagClassifier, say
from twisted.internet.task import Clock

from asr.sim_recognizer import SimRecognizer
from asr.speech_input import SpeechInput
from config.asr_config import AsrConfig, MachineSettings
from config.errors import ConfigError
from config.server_config import load_server_config
from session.speech import EarlyEndpointing, SilenceWatch, SpeechRouter

LINE = "我已经还了啊"  # one clause: the sim recognizer gives it whole for 1.4 s of speech
FAULT_WORDS = "故障测试"  # [asr.sim] fault_on_words: the test-only fault injection of the sim recognizer
FAULT_LINE = "我是故障测试"


def _call(recognizer: SimRecognizer) -> tuple[Harness, SpeechInput, list[Any]]:
    conversation = ScriptedConversation(say("hello", 5), [say("answer", 5), say("again", 5)])
    h = Harness(conversation)
    watch = SilenceWatch(FlagClassifier())
    router = SpeechRouter(h.session, h.clock, watch, None, EarlyEndpointing(enabled=False))
    speech = SpeechInput(recognizer, AsrConfig(machine=MachineSettings(enabled=False)), 8000, router, h.clock,
                         classifier=watch)
    router.attach(speech)
    results: list[Any] = []
    h.session.start(router).addCallback(results.append)
    return h, speech, results


def _play(calls: list[Harness], pattern: str, engine_clock: Clock) -> None:
    for ch in pattern:
        engine_clock.advance(0.02)  # the recognizer's own thread hand-off, a tick behind the media
        for h in calls:
            h.clock.advance(0.02)
            h.session.frame_received(SPEECH if ch == "#" else QUIET, h.t)
            h.sent.append(h.queue.pull())


def test_recognizer_raising_ends_that_call_error_and_the_other_call_goes_on() -> None:
    """Two calls share a recognizer (as the shared engine pool is); it fails on the first answer of one
    call: that call ends `error: recognizer: InjectedRecognizerFault: ...` (bot hangs up); the other hears
    and answers. The fault is the sim recognizer's test-only `fault_on_words`, the same one
    tests/campaign/test_recognizer_fault_workers.py sets in real call-worker processes."""
    engine_clock = Clock()
    recognizer = SimRecognizer(FAULT_WORDS, reactor=engine_clock)
    bad, bad_speech, bad_result = _call(recognizer)
    good, good_speech, good_result = _call(recognizer)
    bad_speech.hint(FAULT_LINE)
    good_speech.hint(LINE)
    _play([bad, good], "." * 10 + "#" * 70 + "." * 40, engine_clock)
    assert bad_result, "the call with the failed recognizer did not end"
    ended = bad_result[0]
    assert ended.end_reason == f"error: recognizer: InjectedRecognizerFault: injected fault on {FAULT_WORDS!r}"
    assert ended.hangup_by == "bot" and bad.control.hangups == 1
    assert not good_result and good.control.hangups == 0  # still up
    assert [u for kind, u in good.conversation.heard if kind == "utterance"] == [LINE]
    good_speech.hint(LINE)
    _play([good], "." * 30 + "#" * 70 + "." * 40, engine_clock)  # and it keeps hearing
    assert [u for kind, u in good.conversation.heard if kind == "utterance"] == [LINE, LINE]
    good.session.remote_hangup()
    assert good_result and good_result[0].end_reason == "remote_hangup"


def test_fault_words_are_refused_with_a_real_recognizer(tmp_path: Path) -> None:
    """The test-only hook cannot be left on in production: with recognizer = vosk or whisper it is a
    start-up error naming the key."""
    config = tmp_path / "server.toml"
    config.write_text('[asr]\nrecognizer = "vosk"\n[asr.sim]\nfault_on_words = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"asr\.sim\.fault_on_words"):
        load_server_config(config)

"""Early endpointing through the real router, speech input and sim recognizer on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from session_fakes import Harness, ScriptedConversation

from asr.sim_recognizer import SimRecognizer
from asr.speech_input import SpeechInput
from config.asr_config import AsrConfig, MachineSettings
from session.call_session import CARRY_WAIT_S
from session.ports import Say, Understanding
from session.speech import EarlyEndpointing, SilenceWatch, SpeechRouter

SPEECH = b"\x01\x20" * 160  # loud 20 ms frame at 8 kHz; FlagClassifier calls it speech
QUIET = b"\x00" * 320
LINE = "我已经还了啊，昨天就还了，你们查一下。"


class FlagClassifier:
    """Frames that begin with byte 1 are speech: exact control over the VAD decision."""

    rate = 8000
    frame_ms = 20

    def is_speech(self, frame: bytes) -> bool:
        return frame[0] == 1


def say(text: str, frames: int) -> Understanding:
    return Understanding(Say(f"{text}:{frames}", "n", True), intent="x", confidence=0.9)


class Rig:
    """A session whose speech goes through SpeechRouter -> SpeechInput(SimRecognizer) as in a live call."""

    def __init__(self, complete: Callable[[str], bool] = lambda text: True) -> None:
        self.conversation = ScriptedConversation(say("hello", 5), [say("answer", 5), say("again", 5)])
        self.h = Harness(self.conversation)
        watch = SilenceWatch(FlagClassifier())
        self.router = SpeechRouter(self.h.session, self.h.clock, watch, complete, EarlyEndpointing())
        config = AsrConfig(machine=MachineSettings(enabled=False))  # long early sentences: no machine hint
        self.speech = SpeechInput(SimRecognizer(), config, 8000, self.router, self.h.clock, classifier=watch)
        self.router.attach(self.speech)
        self.result: Any = None
        self.h.session.start(self.router).addCallback(lambda r: setattr(self, "result", r))
        self.play("." * 10)  # the opening plays out

    def play(self, pattern: str) -> None:
        for ch in pattern:
            self.h.clock.advance(0.02)
            self.h.session.frame_received(SPEECH if ch == "#" else QUIET, self.h.t)
            self.h.sent.append(self.h.queue.pull())

    def end(self) -> Any:
        self.h.session.remote_hangup()
        return self.result


def test_speech_resuming_in_the_pause_after_an_early_end_is_one_turn() -> None:
    """A 240 ms comma pause ends the utterance early, but the sentence going on joins it: one answer, no barge-in."""
    rig = Rig()
    rig.speech.hint(LINE)
    rig.play("#" * 70 + "." * 12 + "#" * 140 + "." * 30)
    turns = rig.end().turns
    assert rig.router.early_finalized == 2
    assert [u for kind, u in rig.conversation.heard if kind == "utterance"] == [LINE]
    answer = [t for t in turns if t.event == "utterance"]
    assert len(answer) == 1 and answer[0].heard_text == LINE and not answer[0].interrupted
    assert answer[0].speech_start_s == pytest.approx(0.22) and answer[0].speech_end_s == pytest.approx(4.66)
    assert rig.h.session.merged_turns == 1


def test_early_final_is_answered_when_the_pause_is_confirmed_before_the_hangover() -> None:
    """Without more speech the answer waits for the pause to reach 260 ms, then starts before the 300 ms hangover."""
    rig = Rig()
    rig.speech.hint("我已经还了啊。")
    rig.play("#" * 70 + "." * 40)
    answer = [t for t in rig.end().turns if t.event == "utterance"]
    assert len(answer) == 1 and answer[0].heard_text == "我已经还了啊。"
    latency, asr = answer[0].latency_ms, answer[0].asr_latency_ms
    assert latency is not None and asr is not None
    assert latency - asr == pytest.approx(60, abs=1) and latency < 300  # waited 260 - 200 ms after the final


def test_a_click_in_the_pause_does_not_lose_the_early_final() -> None:
    """One speech frame after an early end (noise, no utterance) delays the answer by the carry wait, no more."""
    rig = Rig()
    rig.speech.hint("我已经还了啊。")
    rig.play("#" * 70 + "." * 11 + "#" + "." * int(CARRY_WAIT_S / 0.02 + 20))
    answer = [t for t in rig.end().turns if t.event == "utterance"]
    assert len(answer) == 1 and answer[0].heard_text == "我已经还了啊。"
    assert answer[0].latency_ms is not None and answer[0].latency_ms < 240 + CARRY_WAIT_S * 1000 + 40


def test_bare_short_yes_no_hello_never_end_early() -> None:
    """'好的' / '对的' / '不是' / '喂你好' wait for the hangover; a longer sure answer still ends early."""
    from dialogue.intents.model import IntentClassifier
    from session.runner import CompleteAnswerByIntent

    complete = CompleteAnswerByIntent(IntentClassifier.load())
    assert [complete(t) for t in ("好的", "对的", "不是", "是我")] == [False, False, False, False]
    assert complete("我已经还了啊") and complete("是我，你说")

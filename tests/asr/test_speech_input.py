"""SpeechInput on a fake clock: event order, transcripts, barge-in, early endpointing, hints, close."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from asr.events import (
    BargeIn,
    FinalTranscript,
    PartialTranscript,
    RecognizerFailed,
    SpeechEnded,
    SpeechEvent,
    SpeechStarted,
)
from asr.recognizer import RecognitionResult, build_recognizer
from asr.sim_recognizer import SimRecognizer
from asr.speech_input import SpeechInput
from config.asr_config import AsrConfig, BargeInSettings

RATE = 8000
SPEECH = b"\x01\x20" * 160  # loud (int16 8193): the sim recognizer counts voiced audio
QUIET = b"\x00" * 320


class FlagClassifier:
    """Frames that begin with byte 1 are speech: exact control over the VAD decision."""

    rate = RATE
    frame_ms = 20

    def is_speech(self, frame: bytes) -> bool:
        return frame[0] == 1


class Harness:
    def __init__(self, config: AsrConfig | None = None) -> None:
        self.events: list[SpeechEvent] = []
        self.clock = Clock()
        self.t = 0.0
        self.input = SpeechInput(
            SimRecognizer(), config or AsrConfig(), RATE, self.events.append, self.clock, classifier=FlagClassifier()
        )

    def play(self, pattern: str) -> None:
        for ch in pattern:
            self.input.push(SPEECH if ch == "#" else QUIET, self.t)
            self.t = round(self.t + 0.02, 3)
            self.clock.advance(0.02)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def test_sim_utterance_gives_started_partials_ended_final_in_order() -> None:
    """A hinted utterance yields SpeechStarted, growing partials, SpeechEnded, then the hinted final."""
    h = Harness()
    h.input.hint("我 下周一 还款")
    h.play("." * 10 + "#" * 70 + "." * 20)
    kinds = [type(e).__name__ for e in h.events]
    assert kinds[0] == "SpeechStarted" and kinds[-2:] == ["SpeechEnded", "FinalTranscript"]
    partials = h.of(PartialTranscript)
    assert [p.text for p in partials][-1] == "我下周一还款"
    assert all(len(a.text) < len(b.text) for a, b in itertools.pairwise(partials))
    final = h.of(FinalTranscript)[0]
    assert final.text == "我下周一还款" and final.utterance == 1
    assert final.start_s == pytest.approx(0.2) and final.end_s == pytest.approx(1.6)
    assert final.partials == len(partials) and final.latency_s == 0.0


def test_hints_are_used_in_order_and_unhinted_speech_is_empty() -> None:
    """Each utterance takes the oldest hint; an utterance without one has empty text."""
    h = Harness()
    h.input.hint("喂")
    h.input.hint("对")
    h.play("#" * 10 + "." * 20 + "#" * 10 + "." * 20 + "#" * 10 + "." * 20)
    assert [f.text for f in h.of(FinalTranscript)] == ["喂", "对", ""]
    assert [f.utterance for f in h.of(FinalTranscript)] == [1, 2, 3]


def test_barge_in_only_while_bot_speaks_interruptibly_and_after_min_speech() -> None:
    """BargeIn is raised once per utterance after min_speech_ms, only over an interruptible prompt."""
    h = Harness(AsrConfig(barge_in=BargeInSettings(min_speech_ms=400)))
    h.input.bot_speaking(True, interruptible=False)
    h.play("#" * 40 + "." * 20)
    assert h.of(BargeIn) == []
    h.input.bot_speaking(True, interruptible=True)
    h.play("#" * 15 + "." * 20)  # a 300 ms backchannel
    assert h.of(BargeIn) == []
    start = h.t
    h.play("#" * 40 + "." * 20)
    barge = h.of(BargeIn)
    assert len(barge) == 1 and barge[0].utterance == 3
    assert barge[0].speech_s == pytest.approx(0.4)
    assert barge[0].t == pytest.approx(start + 0.4)


def test_barge_in_waiting_for_recognised_characters() -> None:
    """With min_chars = 2 a long '嗯' does not barge in; a real sentence does once two characters are seen."""
    h = Harness(AsrConfig(barge_in=BargeInSettings(min_speech_ms=200, min_chars=2)))
    h.input.bot_speaking(True, interruptible=True)
    h.input.hint("嗯")
    h.play("#" * 50 + "." * 20)
    assert h.of(BargeIn) == []
    h.input.hint("等一下我说")
    h.play("#" * 50 + "." * 20)
    barge = h.of(BargeIn)
    assert len(barge) == 1 and barge[0].text == "等一"


def test_barge_in_allowed_query_follows_the_rule() -> None:
    """barge_in_allowed() is false before the minimum speech and outside utterances, true after."""
    h = Harness(AsrConfig(barge_in=BargeInSettings(min_speech_ms=200)))
    assert not h.input.barge_in_allowed()
    h.play("#" * 8)
    assert not h.input.barge_in_allowed()
    h.play("#" * 2)
    assert h.input.barge_in_allowed()


def test_finalize_now_ends_turn_early_and_speech_after_starts_anew() -> None:
    """finalize_now() gives SpeechEnded(forced) and the final at once; continued speech is a new utterance."""
    h = Harness()
    h.input.hint("明天还")
    h.play("#" * 40)
    assert h.input.finalize_now()
    ended = h.of(SpeechEnded)[0]
    assert ended.reason == "forced" and ended.end_s == pytest.approx(0.8)
    assert h.of(FinalTranscript)[0].text == "明天还"
    assert not h.input.finalize_now()
    h.play("#" * 10)
    assert len(h.of(SpeechStarted)) == 2


def test_close_mid_utterance_reports_closed_and_drops_later_frames() -> None:
    """close() ends the utterance with reason closed, gives no final, and ignores further frames."""
    h = Harness()
    h.play("#" * 20)
    h.input.close()
    h.play("#" * 20)
    assert [e.reason for e in h.of(SpeechEnded)] == ["closed"]
    assert h.of(FinalTranscript) == []
    assert len(h.of(SpeechStarted)) == 1
    done: list[object] = []
    h.input.wait_closed().addCallback(done.append)
    assert done == [None]


def test_bad_frame_is_refused_and_changes_nothing() -> None:
    """A wrong-size or out-of-order frame raises ValueError with the reason; state is untouched."""
    h = Harness()
    h.play("#" * 3)
    with pytest.raises(ValueError, match="320 bytes"):
        h.input.push(b"\x01" * 100, h.t)
    with pytest.raises(ValueError, match="older than the previous frame"):
        h.input.push(SPEECH, h.t - 0.04)
    h.play("#" * 3)
    assert len(h.of(SpeechStarted)) == 1 and h.of(SpeechStarted)[0].start_s == 0.0


def test_sim_recognizer_is_logged_when_chosen(caplog: pytest.LogCaptureFixture) -> None:
    """Choosing the sim recognizer in config logs a warning that transcripts are simulated."""
    with caplog.at_level(logging.WARNING):
        recognizer = build_recognizer(AsrConfig(recognizer="sim"), Clock(), None)
    assert recognizer.name == "sim"
    assert any(r.getMessage() == "asr.recognizer" and r.levelno == logging.WARNING for r in caplog.records)
    assert "SIMULATION" in str(caplog.records[-1].__dict__.get("event_fields"))


class BrokenStream:
    """A recognizer stream whose final result always fails, as a crashed engine would."""

    def feed(self, pcm: bytes) -> None:
        pass

    def refresh_partial(self) -> None:
        pass

    def prefinalize(self) -> None:
        pass

    def finish(self) -> Deferred[RecognitionResult]:
        return fail(RuntimeError("decoder exploded"))

    def hint(self, text: str) -> None:
        pass

    def drained(self) -> Deferred[None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)


class BrokenRecognizer:
    name = "broken"

    def open_stream(self, rate: int, on_partial: Callable[[str], None]) -> BrokenStream:
        return BrokenStream()


def test_recognizer_failure_is_reported_as_recognizer_failed(caplog: pytest.LogCaptureFixture) -> None:
    """A failing final is logged as an error and reported as RecognizerFailed (the call ends `error`), not
    swallowed and not passed off as an empty answer."""
    events: list[SpeechEvent] = []
    si = SpeechInput(BrokenRecognizer(), AsrConfig(), RATE, events.append, Clock(), classifier=FlagClassifier())
    with caplog.at_level(logging.ERROR):
        for i in range(40):
            si.push(SPEECH if i < 20 else QUIET, i * 0.02)
    assert not [e for e in events if isinstance(e, FinalTranscript)]
    failed = [e for e in events if isinstance(e, RecognizerFailed)]
    assert failed == [RecognizerFailed(1, "RuntimeError: decoder exploded")]
    assert any(r.getMessage() == "asr.final_failed" for r in caplog.records)


class RecordingStream(BrokenStream):
    """Records what SpeechInput asks of its recognizer stream."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def refresh_partial(self) -> None:
        self.calls.append("refresh")

    def prefinalize(self) -> None:
        self.calls.append("prefinalize")

    def finish(self) -> Deferred[RecognitionResult]:
        self.calls.append("finish")
        return succeed(RecognitionResult("好", 0.9))


class RecordingRecognizer:
    name = "recording"

    def __init__(self) -> None:
        self.stream = RecordingStream()

    def open_stream(self, rate: int, on_partial: Callable[[str], None]) -> RecordingStream:
        return self.stream


@pytest.mark.parametrize(("prefinalize_ms", "expected"), [
    (200, ["refresh", "refresh", "prefinalize", "finish"]),
    (0, ["refresh", "refresh", "finish"]),
])
def test_prefinalize_once_per_long_enough_pause_inside_an_utterance(prefinalize_ms: int, expected: list[str]) -> None:
    """A 100 ms pause only refreshes the partial; 200 ms of silence also prefinalizes, once; 0 turns it off."""
    recognizer = RecordingRecognizer()
    config = dataclasses.replace(AsrConfig(), prefinalize_ms=prefinalize_ms)
    si = SpeechInput(recognizer, config, RATE, lambda e: None, Clock(), classifier=FlagClassifier())
    pattern = "." * 10 + "#" * 20 + "." * 5 + "#" * 20 + "." * 40
    for i, ch in enumerate(pattern):
        si.push(SPEECH if ch == "#" else QUIET, i * 0.02)
    assert recognizer.stream.calls == expected


def test_sim_line_split_by_a_long_comma_pause_gives_each_utterance_its_clauses() -> None:
    """A hinted line heard as two utterances: the first gets the clause said, the second the rest (not "")."""
    h = Harness()
    h.input.hint("我已经还了啊，昨天就还了，你们查一下。")
    h.play("." * 5 + "#" * 70 + "." * 20)  # 1.4 s voiced (~6 characters), then the pause ends the utterance
    h.play("#" * 140 + "." * 20)
    assert [f.text for f in h.of(FinalTranscript)] == ["我已经还了啊", "昨天就还了，你们查一下。"]


def test_sim_rest_nobody_spoke_is_dropped_when_the_next_line_is_hinted() -> None:
    """The unspoken rest of a cut-short line never becomes the words of the next line."""
    h = Harness()
    h.input.hint("对，下周五还三千。")
    h.play("." * 5 + "#" * 15 + "." * 20)  # only "对" is said
    h.input.hint("好的，再见。")
    h.play("#" * 50 + "." * 20)
    assert [f.text for f in h.of(FinalTranscript)] == ["对", "好的，再见。"]

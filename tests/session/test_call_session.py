"""The conversation loop on a fake clock: turns, latency, barge-in, timers and failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from session_fakes import Harness, ScriptedConversation

from session.call_session import SessionSettings
from session.ports import EndCall, Listen, Say, TransferCall, Understanding


def say(text: str, frames: int, interruptible: bool = True, node: str = "n") -> Understanding:
    return Understanding(Say(f"{text}:{frames}", node, interruptible), intent="x", confidence=0.9)


def speak(h: Harness, text: str, frames: int = 20) -> float:
    """Borrower says `text` over `frames` media ticks; returns the call time speech ended."""
    h.session.speech_started(h.t)
    h.tick(frames)
    end = h.t
    h.session.speech_ended(end)
    return end


def test_opening_then_answer_records_voice_to_voice_latency() -> None:
    """Latency runs from VAD speech end to the media tick that takes the answer's first frame."""
    seen: list[Any] = []
    conv = ScriptedConversation(say("hello", 10), [say("answer", 5, node="ask_date")])
    h = Harness(conv, on_latency=seen.append)
    h.start()
    h.tick(12)
    end = speak(h, "ok")
    h.tick(10)  # hangover + recognition
    h.session.final("好的", 0.8, h.t)
    h.tick(1)
    h.tick(10)
    h.control.hangup()
    h.session.remote_hangup()
    turns = h.result.turns
    assert [t.event for t in turns] == ["opening", "utterance"]
    answer = turns[1]
    assert answer.heard_text == "好的" and answer.node == "ask_date"
    assert answer.prompt_frames_total == 5 and answer.prompt_frames_played == 5 and not answer.interrupted
    assert answer.latency_ms == pytest.approx((11 * 0.02) * 1000, abs=1.0)
    assert answer.asr_latency_ms == pytest.approx(200, abs=1.0)
    assert answer.speech_end_s == pytest.approx(end)
    assert len(seen) == 1 and seen[0].latency_ms == answer.latency_ms


def test_barge_in_cuts_interruptible_prompt_within_one_frame() -> None:
    """After BargeIn the very next media tick is silence and the turn says how much was played."""
    conv = ScriptedConversation(say("long", 100), [say("short", 3)])
    h = Harness(conv)
    h.start()
    h.tick(30)
    h.session.speech_started(h.t)
    h.tick(10)
    h.session.barge_in(h.t)
    h.tick(1)
    assert h.silence_sent(1)
    h.tick(5)
    h.session.speech_ended(h.t)
    h.session.final("我已经还了", 0.9, h.t + 0.1)
    h.tick(10)
    h.session.remote_hangup()
    opening = h.result.turns[0]
    assert opening.interrupted and opening.prompt_frames_played == 40
    assert opening.barge_in_s == pytest.approx(0.02 * 40)
    assert h.result.turns[1].heard_text == "我已经还了"
    assert h.result.turns[1].prompt_frames_played == 3


def test_non_interruptible_prompt_plays_out_and_speech_is_answered_after() -> None:
    """A legal disclosure is not cut; what the borrower said meanwhile is answered once it ends."""
    conv = ScriptedConversation(say("disclosure", 50, interruptible=False), [say("reply", 3)])
    h = Harness(conv)
    h.start()
    h.tick(10)
    end = speak(h, "wait", 10)
    h.session.barge_in(h.t)
    h.session.final("你是谁", 0.7, h.t)
    h.tick(1)
    assert not h.silence_sent(1)
    assert conv.heard == []
    h.tick(40)
    assert conv.heard == [("utterance", "你是谁")]
    h.tick(5)
    h.session.remote_hangup()
    opening, reply = h.result.turns
    assert not opening.interrupted and opening.prompt_frames_played == 50
    assert reply.heard_text == "你是谁" and reply.speech_end_s == pytest.approx(end)
    assert reply.latency_ms is not None and reply.latency_ms > 500  # waited for the disclosure


def test_backchannel_without_barge_in_is_not_answered() -> None:
    """A short '嗯' that asr did not treat as barge-in leaves the prompt playing and gets no reply."""
    conv = ScriptedConversation(say("long", 40), [])
    h = Harness(conv)
    h.start()
    h.tick(5)
    speak(h, "嗯", 5)
    h.session.final("嗯", 0.5, h.t)
    h.tick(40)
    h.session.remote_hangup()
    assert conv.heard == []
    assert h.result.turns[0].prompt_frames_played == 40


def test_no_input_timer_asks_dialogue_after_silence() -> None:
    """Silence for the configured time after a prompt becomes an on_no_input turn, then hang-up."""
    conv = ScriptedConversation(
        say("hello", 5),
        [say("are you there", 5), Understanding(EndCall("no_response"))],
    )
    h = Harness(conv, settings=SessionSettings(no_input_timeout_s=3.0, max_call_seconds=60))
    h.start()
    h.tick(5)
    h.tick(149)
    assert conv.heard == []
    h.tick(2)
    assert conv.heard == [("no_input", None)]
    h.tick(5 + 151)
    assert h.result is not None
    assert h.result.end_reason == "no_response" and h.result.hangup_by == "bot"
    assert [t.event for t in h.result.turns] == ["opening", "no_input", "no_input"]
    assert h.control.hangups == 1 and h.feed.closed


def test_failure_in_dialogue_ends_only_that_call_with_a_reason() -> None:
    """An exception inside the dialogue becomes end_reason 'error: ...' and a bot hang-up."""
    conv = ScriptedConversation(say("hello", 5), [])
    conv.fail_on_utterance = True
    h = Harness(conv)
    h.start()
    h.tick(6)
    speak(h, "x")
    h.session.final("明天还", 0.9, h.t)
    assert h.result is not None
    assert h.result.end_reason.startswith("error: utterance: KeyError")
    assert h.control.hangups == 1


def test_prompt_that_cannot_be_rendered_ends_the_call() -> None:
    """A missing recording is a call failure with the prompt named, not a crash."""
    conv = ScriptedConversation(say("hello", 5), [])
    h = Harness(conv)
    h.prompts.broken.add("hello")
    h.start()
    assert h.result is not None and "prompt: FileNotFoundError" in h.result.end_reason
    assert h.result.errors and "hello" in h.result.errors[0]


def test_farewell_plays_before_bot_hangs_up() -> None:
    """EndCall with a farewell hangs up only after its last frame went out."""
    bye = Say("bye:4", "closing", True)
    conv = ScriptedConversation(say("hello", 3), [Understanding(EndCall("opt_out", farewell=bye), "stop_calling")])
    h = Harness(conv)
    h.start()
    h.tick(4)
    speak(h, "别再打了")
    h.session.final("别再打了", 0.9, h.t)
    h.tick(3)
    assert h.control.hangups == 0  # farewell still playing
    h.tick(2)
    assert h.result.end_reason == "opt_out" and h.control.hangups == 1
    assert h.result.turns[1].intent == "stop_calling" and h.result.turns[1].prompt_frames_played == 4


def test_transfer_uses_agent_uri_from_settings() -> None:
    """Transfer without a URI goes to the configured agent and ends the call as transferred."""
    conv = ScriptedConversation(say("hello", 3), [Understanding(TransferCall(None, "transferred"))])
    settings = SessionSettings(agent_uri="sip:agents@127.0.0.1")
    h = Harness(conv, settings=settings)
    h.start()
    h.tick(4)
    h.session.dtmf("0")
    assert h.control.transfers == ["sip:agents@127.0.0.1"]
    assert h.result.end_reason == "transferred" and h.result.dtmf == "0"
    assert h.control.hangups == 0


def test_max_duration_hangs_up() -> None:
    """The call is cut at max_call_seconds whatever the dialogue is doing."""
    conv = ScriptedConversation(say("hello", 3), [Understanding(Listen())] * 10)
    h = Harness(conv, settings=SessionSettings(no_input_timeout_s=1.0, max_call_seconds=5.0))
    h.start()
    h.tick(260)
    assert h.result.end_reason == "max_duration" and h.control.hangups == 1


def test_likely_machine_asks_dialogue_and_flags_record() -> None:
    """A machine hint is recorded on the call and handed to the dialogue (which here hangs up)."""
    conv = ScriptedConversation(say("hello", 50), [Understanding(EndCall("answering_machine"))])
    h = Harness(conv)
    h.start()
    h.tick(10)
    h.session.likely_machine(h.t)
    h.tick(45)
    assert h.result.likely_machine and h.result.end_reason == "answering_machine"


def test_farewell_is_not_cut_by_barge_in() -> None:
    """Nothing is answered after goodbye, so speech over the farewell does not cut it."""
    bye = Say("bye:10", "closing", True)
    conv = ScriptedConversation(say("hello", 3), [Understanding(EndCall("promise_to_pay", farewell=bye))])
    h = Harness(conv)
    h.start()
    h.tick(4)
    speak(h, "好的")
    h.session.final("好的", 0.9, h.t)
    h.tick(3)
    h.session.barge_in(h.t)
    h.tick(8)
    assert h.result.turns[1].prompt_frames_played == 10 and not h.result.turns[1].interrupted


def test_dtmf_cuts_an_interruptible_prompt() -> None:
    """A key press interrupts the prompt like speech does, and the key's answer plays next."""
    conv = ScriptedConversation(say("menu", 50), [say("agent", 3)])
    h = Harness(conv)
    h.start()
    h.tick(10)
    h.session.dtmf("0")
    h.tick(1)
    assert h.silence_sent(1) is False  # the answer to the key starts at once
    h.tick(5)
    h.session.remote_hangup()
    assert h.result.turns[0].interrupted and h.result.turns[0].prompt_frames_played == 10
    assert h.result.turns[1].event == "dtmf" and h.result.turns[1].prompt_frames_played == 3


def test_speech_held_during_disclosure_is_answered_once() -> None:
    """Two things said over a non-interruptible prompt reach the dialogue as one utterance afterwards."""
    conv = ScriptedConversation(say("disclosure", 40, interruptible=False), [say("reply", 3)])
    h = Harness(conv)
    h.start()
    speak(h, "a", 5)
    h.session.final("喂", 0.9, h.t)
    speak(h, "b", 5)
    h.session.final("你是谁", 0.6, h.t)
    h.tick(35)
    assert conv.heard == [("utterance", "喂，你是谁")]
    h.tick(4)
    h.session.remote_hangup()
    assert h.result.turns[1].confidence == 0.9 and h.result.turns[1].heard_text == "喂，你是谁"


def test_record_is_written_even_if_sip_never_confirms_the_hangup() -> None:
    """A hang-up Deferred that never fires still yields the record after the guard delay."""
    from twisted.internet.defer import Deferred

    conv = ScriptedConversation(say("hello", 3), [Understanding(EndCall("no_response"))])
    h = Harness(conv)
    h.control.hangup = lambda: Deferred()
    h.start()
    h.tick(4)
    h.session.dtmf("5")
    assert h.result is None
    h.clock.advance(10.5)
    assert h.result is not None and h.result.end_reason == "no_response"


def test_late_final_keeps_its_own_speech_boundaries() -> None:
    """A final that arrives after the next utterance began is timed by its own speech, not the new one."""
    conv = ScriptedConversation(say("hello", 3), [say("reply", 3)])
    h = Harness(conv)
    h.start()
    h.tick(4)
    h.session.speech_started(1.0)
    h.session.speech_ended(1.5)
    h.session.speech_started(1.8)  # talking again before the recognizer answered
    h.session.final("明天还", 0.9, 1.9, start_s=1.0, end_s=1.5, partials=3)
    h.tick(4)
    h.session.remote_hangup()
    reply = h.result.turns[1]
    assert (reply.speech_start_s, reply.speech_end_s, reply.partials) == (1.0, 1.5, 3)


def test_session_section_is_parsed_and_checked(tmp_path: Path) -> None:
    """`[session]` values reach the runner's settings; an out-of-range value names file and key."""
    from config.errors import ConfigError
    from config.server_config import DEFAULT_SERVER_TOML, load_server_config
    from session.runner import early_endpointing

    base = DEFAULT_SERVER_TOML.read_text(encoding="utf-8")
    good = tmp_path / "server.toml"
    good.write_text(base.replace("early_silence_ms = 200", "early_silence_ms = 240"), encoding="utf-8")
    assert early_endpointing(load_server_config(good)).silence_ms == 240
    bad = tmp_path / "bad.toml"
    bad.write_text(base.replace("early_silence_ms = 200", "early_silence_ms = 5"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(bad)
    assert "session.early_silence_ms" in str(err.value)


def test_vad_backend_from_config_reaches_early_endpointing(tmp_path: Path) -> None:
    """`[asr.vad] backend = "silero"` is the VAD the session (and QA replay) watch, not a fixed webrtcvad."""
    from asr.vad import SileroFrameClassifier, WebRtcFrameClassifier
    from config.server_config import DEFAULT_SERVER_TOML, load_server_config
    from session.runner import silence_watch

    base = DEFAULT_SERVER_TOML.read_text(encoding="utf-8")
    assert "\n[asr.vad]" not in base  # the default file leaves the section commented out
    path = tmp_path / "server.toml"
    path.write_text(base + '\n[asr.vad]\nbackend = "silero"\n', encoding="utf-8")
    assert isinstance(silence_watch(load_server_config(path), 8000).inner, SileroFrameClassifier)
    assert isinstance(silence_watch(load_server_config(DEFAULT_SERVER_TOML), 8000).inner, WebRtcFrameClassifier)


def test_failed_transfer_is_reported_to_the_dialogue() -> None:
    """A REFER that fails ends the call as transfer_failed and tells the dialogue, so it never stores transferred."""
    conv = ScriptedConversation(say("hello", 3), [Understanding(TransferCall(None, "transferred"))])
    h = Harness(conv, settings=SessionSettings(agent_uri="sip:agents@127.0.0.1"))
    h.control.transfer_error = RuntimeError("REFER rejected: 403")
    h.start()
    h.tick(4)
    h.session.dtmf("0")
    assert h.result.end_reason == "transfer_failed" and ("transfer_failed", "transfer_failed") in conv.heard
    assert h.control.hangups == 1


def test_transfer_without_agent_uri_is_reported_to_the_dialogue() -> None:
    """No agent URI anywhere: the session ends as transfer_unavailable and the dialogue is told."""
    conv = ScriptedConversation(say("hello", 3), [Understanding(TransferCall(None, "transferred"))])
    h = Harness(conv, settings=SessionSettings(agent_uri=None))
    h.start()
    h.tick(4)
    h.session.dtmf("0")
    assert h.result.end_reason == "transfer_unavailable" and ("transfer_unavailable" in dict(conv.heard).values())

"""Callback times (issue 17): the time the borrower names is kept, moved into the window, read back, not asked again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dialogue_fakes import TODAY, ScriptedClassifier, make_borrower

from config.dialogue_config import DialogueConfig, parse_dialogue
from config.errors import ConfigError
from config.toml_reader import Table
from dialogue.manager import DialogueManager, Hangup
from dialogue.scripts import ScriptLibrary

FON = "first_overdue_notice"


def _call(library: ScriptLibrary, turns: list[str], now: dt.datetime,
          config: DialogueConfig | None = None) -> tuple[DialogueManager, list[str], list[str]]:
    """Scripted intents (first word), the real slot reader on the words; returns manager, nodes, texts."""
    manager = DialogueManager(library, ScriptedClassifier(), TODAY, script_set=FON, config=config, now=lambda: now)
    nodes, texts = [], []
    for action in [manager.start(make_borrower()), *(manager.on_utterance(t) for t in turns)]:
        prompt = getattr(action, "prompt", None)
        if prompt is not None:
            nodes.append(prompt.node)
            texts.append(prompt.text)
    return manager, nodes, texts


AFTERNOON = dt.datetime(2026, 11, 28, 14, 10)


@pytest.mark.parametrize(("said", "callback_at"), [
    ("busy 你明天下午再打过来吧", "2026-11-29T15:00"),
    ("busy 晚上八点", "2026-11-28T20:00"),
    ("busy 一个小时以后", "2026-11-28T15:10"),
    ("busy 明天上午十点", "2026-11-29T10:00"),
])
def test_time_given_with_the_busy_reply_is_read_back_not_asked(library: ScriptLibrary, said: str,
                                                               callback_at: str) -> None:
    """'明天下午再打过来吧' etc.: the bot reads the time back at once (no 'when suits you?') and stores it."""
    manager, nodes, texts = _call(library, ["affirm", said], AFTERNOON)
    assert "busy_callback/ask" not in nodes and nodes[-1] == "busy_callback/confirm", nodes
    assert callback_at[11:] in texts[-1]
    assert manager.outcome is not None and manager.outcome.to_dict()["callback_at"] == callback_at
    assert manager.outcome.disposition == "callback" and manager.outcome.callback_requested


def test_time_given_after_the_question_is_kept(library: ScriptLibrary) -> None:
    """'我在忙' then '明天上午十点' at the question: the callback is tomorrow 10:00."""
    manager, nodes, _ = _call(library, ["affirm", "busy", "other 明天上午十点"], AFTERNOON)
    assert nodes[-2:] == ["busy_callback/ask", "busy_callback/confirm"]
    assert manager.outcome is not None and manager.outcome.to_dict()["callback_at"] == "2026-11-29T10:00"


@pytest.mark.parametrize(("said", "now", "moved_to"), [
    ("busy 晚上十点再打", AFTERNOON, "2026-11-29T08:00"),
    ("busy 一个小时以后", dt.datetime(2026, 11, 28, 20, 30), "2026-11-29T08:00"),
    ("busy 明天早上六点", AFTERNOON, "2026-11-29T08:00"),
])
def test_time_outside_the_window_is_moved_and_the_borrower_hears_the_real_time(
        library: ScriptLibrary, said: str, now: dt.datetime, moved_to: str) -> None:
    """A callback asked for outside 08:00-21:00 is moved to the next open moment and that time is read back."""
    manager, nodes, texts = _call(library, ["affirm", said], now)
    assert nodes[-1] == "busy_callback/confirm_moved", nodes
    assert library.fragments["bz_moved_a"] in texts[-1] and "08:00" in texts[-1] and "11月29日" in texts[-1]
    assert manager.outcome is not None and manager.outcome.to_dict()["callback_at"] == moved_to


def test_part_of_day_hour_is_configurable(library: ScriptLibrary) -> None:
    """[dialogue] callback_afternoon = "16:30" makes '明天下午' a 16:30 callback."""
    config = parse_dialogue(Table({"callback_afternoon": "16:30"}, Path("server.toml"), "dialogue"))
    manager, _, _ = _call(library, ["affirm", "busy 明天下午吧"], AFTERNOON, config)
    assert manager.outcome is not None and manager.outcome.to_dict()["callback_at"] == "2026-11-29T16:30"


def test_hang_up_after_saying_busy_is_a_callback_request(library: ScriptLibrary) -> None:
    """'我在忙' then a hang-up before any time is named: a callback request, not hung_up."""
    manager, _, _ = _call(library, ["affirm", "busy"], AFTERNOON)
    manager.on_hangup()
    assert manager.outcome is not None and manager.outcome.disposition == "callback"


@pytest.mark.parametrize(("key", "value"), [
    ("callback_window_end", "23:00"), ("callback_window_start", "07:00"), ("callback_evening", "21:30"),
    ("callback_morning", "ten"),
])
def test_callback_settings_cannot_leave_the_legal_window(key: str, value: str) -> None:
    """C1: the callback window and part-of-day hours are refused outside 08:00-22:00 / the window."""
    with pytest.raises(ConfigError, match=key):
        parse_dialogue(Table({key: value}, Path("server.toml"), "dialogue"))


def test_callback_ends_with_hangup_once(library: ScriptLibrary) -> None:
    """The read-back of a callback time ends the call (the bot does not ask anything more)."""
    manager = DialogueManager(library, ScriptedClassifier(), TODAY, script_set=FON, now=lambda: AFTERNOON)
    manager.start(make_borrower())
    manager.on_utterance("affirm")
    assert isinstance(manager.on_utterance("busy 明天下午"), Hangup)

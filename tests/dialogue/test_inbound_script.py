"""The inbound script set (issue 14): greeting as our company, identity first, then the collection dialogue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dialogue_fakes import SCRIPTS_DIR, library_variant

from config.errors import ConfigError
from dialogue.lint import lint_library
from dialogue.scripts import load_script_library

INBOUND = "inbound_callback"


def _inbound_errors(root: Path) -> list[str]:
    return [str(e) for e in lint_library(load_script_library(root)) if f"set {INBOUND} " in e.where]


def test_shipped_inbound_set_is_clean_and_marked_inbound() -> None:
    """The shipped library lints clean with the inbound set in it, and only that set says direction = inbound."""
    library = load_script_library(SCRIPTS_DIR)
    assert library.script_sets[INBOUND].direction == "inbound"
    assert {s.id for s in library.script_sets.values() if s.direction == "inbound"} == {INBOUND}
    assert lint_library(library) == []


def test_inbound_set_that_discloses_debt_before_identity_is_rejected(tmp_path: Path) -> None:
    """An inbound opening that says the amount before the caller is confirmed is a C6 error for that set."""
    root = library_variant(tmp_path, {"scenes/inbound.toml": [
        ('"in_thanks_callback", "open_recording_notice"',
         '"in_thanks_callback", "{amount}", "open_recording_notice"')]})
    errors = _inbound_errors(root)
    assert any("[C6]" in e and "{amount}" in e for e in errors), errors


def test_inbound_set_whose_first_question_is_not_about_identity_is_rejected(tmp_path: Path) -> None:
    """An inbound set that first asks something else (here: when to call back) fails the identity-first rule,
    although that question says no debt detail; the same wiring in an outbound set is not this error."""
    swap = {"sets/inbound_callback.toml": [('identify = "identity_check"', 'identify = "busy_callback"')]}
    errors = _inbound_errors(library_variant(tmp_path / "in", swap))
    assert any("first question must confirm the caller's identity" in e for e in errors), errors
    outbound = {**swap, "sets/inbound_callback.toml": [*swap["sets/inbound_callback.toml"],
                                                       ('direction = "inbound"', 'direction = "outbound"')]}
    errors = _inbound_errors(library_variant(tmp_path / "out", outbound))
    assert not any("first question must confirm" in e for e in errors), errors


def test_unknown_direction_is_refused_at_load(tmp_path: Path) -> None:
    """A set's `direction` is outbound or inbound; anything else fails loading with the key named."""
    root = library_variant(tmp_path, {"sets/inbound_callback.toml": [('direction = "inbound"', 'direction = "in"')]})
    with pytest.raises(ConfigError, match="direction"):
        load_script_library(root)


def test_inbound_conversation_confirms_identity_before_any_debt_detail() -> None:
    """Through the real engine: the opening names the company, the recording notice and asks who is calling;
    the amount is said only after the caller confirms, and a relative only hears the callback request (C6)."""
    from dialogue.borrower import Borrower
    from dialogue.intents.model import IntentClassifier
    from dialogue.manager import DialogueManager, Hangup, PlayPrompt

    library = load_script_library(SCRIPTS_DIR)
    borrower = Borrower.from_dict({
        "id": "B1", "name": "张伟", "gender": "male", "phone": "13800138000", "amount_due": 3200, "overdue_days": 12,
        "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融", "risk_score": 650})
    classifier = IntentClassifier.load()

    def manager() -> DialogueManager:
        return DialogueManager(library, classifier, dt.date(2026, 11, 28), script_set=INBOUND)

    m = manager()
    opening = m.start(borrower)
    assert isinstance(opening, PlayPrompt)
    text = opening.prompt.text
    assert "示例消费金融" in text and "本次通话将被录音" in text and "张伟本人吗" in text
    assert "3200" not in text and "信用贷" not in text
    told = m.on_utterance("是我", 0.9)
    assert isinstance(told, PlayPrompt) and m.identity_confirmed and "3200" in told.prompt.text

    relative = manager()
    relative.start(borrower)
    reply = relative.on_utterance("我是他老婆", 0.9)
    assert not relative.identity_confirmed
    assert isinstance(reply, Hangup) and reply.prompt is not None
    assert "3200" not in reply.prompt.text and "回电" in reply.prompt.text

"""`Conversation` over `dialogue.manager.DialogueManager`: dialogue actions become bot moves."""

from __future__ import annotations

from typing import Any

from dialogue.borrower import Borrower
from dialogue.manager import Action, DialogueManager, Hangup, PlayPrompt, Transfer, Wait
from dialogue.outcome import Outcome
from dialogue.prompt import Prompt
from session.ports import BotMove, EndCall, Listen, Say, TransferCall, Understanding

MACHINE_DISPOSITION = "no_response"  # a recording cannot promise, refuse or opt out


class DialogueConversation:
    def __init__(self, manager: DialogueManager, borrower: Borrower) -> None:
        self.manager = manager
        self.borrower = borrower
        self._machine = False

    def start(self) -> Understanding:
        return self._understood(self.manager.start(self.borrower))

    def on_utterance(self, text: str, confidence: float | None) -> Understanding:
        return self._understood(self.manager.on_utterance(text, 1.0 if confidence is None else confidence))

    def on_no_input(self) -> Understanding:
        return self._understood(self.manager.on_no_input())

    def on_dtmf(self, digit: str) -> Understanding:
        return self._understood(self.manager.on_dtmf(digit))

    def on_machine(self) -> Understanding:
        """A voicemail greeting or announcement: leave without saying anything about the debt."""
        self._machine = True
        return Understanding(EndCall("likely_machine"), identity_confirmed=self.manager.identity_confirmed)

    def on_transfer_failed(self, reason: str) -> None:
        if self.manager.borrower is not None:
            self.manager.on_transfer_failed(reason)

    def outcome(self) -> dict[str, Any] | None:
        if self.manager.borrower is None:
            return None
        if self.manager.outcome is None and self._machine:
            return Outcome(MACHINE_DISPOSITION, turns=self.manager.turns).to_dict()
        return self.manager.on_hangup().to_dict()

    def _understood(self, action: Action) -> Understanding:
        return Understanding(
            move=_move(action),
            intent=action.intent,
            confidence=action.confidence,
            identity_confirmed=self.manager.identity_confirmed,
        )


def _say(prompt: Prompt) -> Say:
    return Say(prompt, prompt.node, prompt.interruptible)


def _move(action: Action) -> BotMove:
    if isinstance(action, PlayPrompt):
        return _say(action.prompt)
    if isinstance(action, Hangup):
        farewell = _say(action.prompt) if action.prompt is not None else None
        return EndCall(action.outcome.disposition, farewell)
    if isinstance(action, Transfer):
        announcement = _say(action.prompt) if action.prompt is not None else None
        return TransferCall(None, "transferred", announcement)
    if isinstance(action, Wait):
        return Listen()
    raise TypeError(f"unknown dialogue action {action!r}")

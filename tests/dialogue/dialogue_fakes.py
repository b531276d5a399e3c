"""Dialogue test fakes: a deterministic classifier and slot extractor, borrowers, transcripts.

Transcript tests write borrower turns as `intent` or `intent date=YYYY-MM-DD amount=N`, so each test
says exactly which intent the manager reacts to; tests that need real language use the real classifier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.dialogue_config import DialogueConfig
from dialogue.borrower import Borrower
from dialogue.manager import Action, DialogueManager, Hangup, PlayPrompt, Transfer
from dialogue.outcome import Outcome
from dialogue.prompt import Prompt
from dialogue.scripts import DEFAULT_SCRIPTS_DIR, ScriptLibrary
from dialogue.segments import DEFAULT_SEGMENTS_TOML

TODAY = dt.date(2026, 11, 28)
SCRIPTS_DIR: Path = DEFAULT_SCRIPTS_DIR
SEGMENTS_TOML: Path = DEFAULT_SEGMENTS_TOML


@dataclass(frozen=True)
class FakeIntent:
    intent: str
    confidence: float
    top3: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class FakeSlots:
    date: dt.date | None
    amount: float | None


class ScriptedClassifier:
    """`"affirm"` -> affirm at 0.99; `"affirm@0.1"` -> affirm at 0.1; words after a space are slots."""

    def classify(self, text: str) -> FakeIntent:
        head = text.split()[0]
        intent, _, conf = head.partition("@")
        return FakeIntent(intent, float(conf) if conf else 0.99)


def scripted_slots(text: str, today: dt.date) -> FakeSlots:
    fields = dict(part.split("=", 1) for part in text.split()[1:] if "=" in part)
    date = dt.date.fromisoformat(fields["date"]) if "date" in fields else None
    amount = float(fields["amount"]) if "amount" in fields else None
    return FakeSlots(date, amount)


BORROWER_BASE: dict[str, Any] = {
    "id": "B001", "name": "张伟", "gender": "male", "phone": "+8613800138000", "amount_due": 3200.0,
    "overdue_days": 12, "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融",
    "risk_score": 620, "value_tier": "normal", "timezone": "Asia/Shanghai",
    # so the mediation notice set (issue 13) can run in the property tests over every set
    "mediator": "示例调解中心", "mediator_phone": "400-820-1234",
}


def make_borrower(**changes: Any) -> Borrower:
    return Borrower.from_dict({**BORROWER_BASE, **changes})



@dataclass
class Run:
    manager: DialogueManager
    prompts: list[Prompt] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    @property
    def nodes(self) -> list[str]:
        return [p.node for p in self.prompts]

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.prompts]

    @property
    def outcome(self) -> Outcome:
        assert self.manager.outcome is not None, f"conversation did not end; nodes {self.nodes}"
        return self.manager.outcome

    @property
    def last(self) -> Action:
        return self.actions[-1]


def converse(
    library: ScriptLibrary,
    script_set: str,
    turns: list[str],
    borrower: Borrower | None = None,
    config: DialogueConfig | None = None,
    agent_available: bool = True,
) -> Run:
    """`turns`: scripted utterances, `<silence>` for no input, `<dtmf:N>` for a key press."""
    manager = DialogueManager(library, ScriptedClassifier(), TODAY, script_set=script_set,
                              config=config, slot_extractor=scripted_slots, agent_available=agent_available)
    run = Run(manager)
    _record(run, manager.start(borrower or make_borrower()))
    for turn in turns:
        assert not manager.ended, f"ended before {turn!r}; nodes {run.nodes}"
        if turn == "<silence>":
            action = manager.on_no_input()
        elif turn.startswith("<dtmf:"):
            action = manager.on_dtmf(turn[6:-1])
        else:
            action = manager.on_utterance(turn)
        _record(run, action)
    return run


def _record(run: Run, action: Action) -> None:
    run.actions.append(action)
    if isinstance(action, PlayPrompt | Hangup | Transfer) and action.prompt is not None:
        run.prompts.append(action.prompt)


def library_variant(tmp: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of the shipped script library with text replacements applied: `{relative file: [(old, new)]}`.

    Each `old` must occur in the file, so a test cannot silently stop exercising what it claims to.
    """
    import shutil

    root = tmp / "scripts"
    shutil.copytree(SCRIPTS_DIR, root)
    for rel, replacements in edits.items():
        file = root / rel
        text = file.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text, f"{rel}: {old!r} not found"
            text = text.replace(old, new, 1)
        file.write_text(text, encoding="utf-8")
    return root

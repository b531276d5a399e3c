"""What changed between the live call and its replay: texts heard, intents, and what the bot did.

Turns are paired by position, not by time: a changed script can shift timings, and QA wants to
see "turn 3 now says X instead of Y", not a cascade of unmatched turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from session.record import TurnRecord

COMPARED = ("event", "heard_text", "intent", "node", "prompt_text", "interrupted")


@dataclass(frozen=True)
class FieldChange:
    field: str
    live: Any
    replay: Any


@dataclass(frozen=True)
class TurnDiff:
    index: int
    live: TurnRecord | None  # None: the replay has a turn the live call did not
    replay: TurnRecord | None  # None: the live call had a turn the replay did not reach
    changes: tuple[FieldChange, ...]

    @property
    def same(self) -> bool:
        return self.live is not None and self.replay is not None and not self.changes


@dataclass(frozen=True)
class CallDiff:
    turns: tuple[TurnDiff, ...]
    outcome_changes: tuple[FieldChange, ...]

    @property
    def same(self) -> bool:
        return all(t.same for t in self.turns) and not self.outcome_changes

    @property
    def changed_turns(self) -> int:
        return sum(1 for t in self.turns if not t.same)


def diff_calls(
    live_turns: tuple[TurnRecord, ...],
    replay_turns: tuple[TurnRecord, ...],
    live_outcome: dict[str, Any] | None,
    replay_outcome: dict[str, Any] | None,
) -> CallDiff:
    live = sorted(live_turns, key=lambda t: t.index)
    replay = sorted(replay_turns, key=lambda t: t.index)
    turns = []
    for i in range(max(len(live), len(replay))):
        a = live[i] if i < len(live) else None
        b = replay[i] if i < len(replay) else None
        changes: tuple[FieldChange, ...] = ()
        if a is not None and b is not None:
            changes = tuple(
                FieldChange(name, getattr(a, name), getattr(b, name))
                for name in COMPARED
                if getattr(a, name) != getattr(b, name)
            )
        turns.append(TurnDiff(i, a, b, changes))
    return CallDiff(tuple(turns), _outcome_changes(live_outcome or {}, replay_outcome or {}))


def _outcome_changes(live: dict[str, Any], replay: dict[str, Any]) -> tuple[FieldChange, ...]:
    keys = ("disposition", "ptp_date", "ptp_amount", "callback_at", "opt_out", "complaint")
    return tuple(FieldChange(k, live.get(k), replay.get(k)) for k in keys if live.get(k) != replay.get(k))

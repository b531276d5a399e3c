"""Engaged conversations and their borrower turns: the "5 interaction turns" figure (issue 12).

A conversation is engaged when the borrower's identity was confirmed, the call was about the debt
(not a wrong number, a third party, an opt-out, silence) and the borrower stayed until the bot ended
it: a call the borrower cut short measures the borrower, not how far the dialogue carries a
conversation, and is counted apart (`is_cut_short`). The figure is the mean and distribution of
borrower turns over engaged conversations.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NOT_ENGAGED = frozenset({"wrong_number", "third_party", "opt_out", "no_response", "hung_up"})
GOAL_MEAN_TURNS = 5.0


def is_engaged(outcome: Mapping[str, Any] | None) -> bool:
    """True for a call outcome (Outcome.to_dict()) where the borrower talked about the debt."""
    return _about_the_debt(outcome) and bool(outcome and outcome.get("completed", True))


def is_cut_short(outcome: Mapping[str, Any] | None) -> bool:
    """An engaged-looking conversation the borrower (or the line) ended before the dialogue did."""
    return _about_the_debt(outcome) and not bool(outcome and outcome.get("completed", True))


def _about_the_debt(outcome: Mapping[str, Any] | None) -> bool:
    if not outcome:
        return False
    return bool(outcome.get("identity_confirmed")) and outcome.get("disposition") not in NOT_ENGAGED \
        and int(outcome.get("turns") or 0) > 0


@dataclass(frozen=True)
class TurnStats:
    conversations: int
    mean: float | None
    distribution: dict[int, int]  # borrower turns -> engaged conversations with that many

    def describe(self) -> str:
        if not self.conversations or self.mean is None:
            return "engaged conversations: none"
        spread = ", ".join(f"{turns}:{n}" for turns, n in self.distribution.items())
        return (f"engaged conversations: {self.conversations}, borrower turns mean {self.mean:.2f} "
                f"(goal >= {GOAL_MEAN_TURNS:g}), distribution turns:calls {spread}")

    def to_dict(self) -> dict[str, Any]:
        return {"conversations": self.conversations, "mean": self.mean,
                "distribution": {str(k): v for k, v in self.distribution.items()}}


def turn_stats(turns: Iterable[int]) -> TurnStats:
    values = list(turns)
    return TurnStats(len(values), statistics.fmean(values) if values else None, dict(sorted(Counter(values).items())))

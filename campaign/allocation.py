"""The case-allocation engine: one case and its history in, one channel with the rule that chose it out.

Pure on purpose (no store, no clock, no I/O): the CLI over a cases file, the CLI over the store and the
daily run inside `serve` all call `allocate`, so the three can never disagree about a case. The
rules are data (`config.allocation_config`); the compliance guard below is code, so even a book
built by hand (bypassing the loader) cannot give a contact channel to a protected case.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from config.allocation_config import AllocationBook, AllocationRule, Condition
from dialogue.borrower import FIELDS as BORROWER_FIELDS
from dialogue.borrower import VALUE_TIERS
from dialogue.segments import Segment

HISTORY_COUNTS = ("broken_promises", "refusals_confirmed")
HISTORY_FLAGS = ("open_complaint", "open_dispute", "hardship", "opted_out_all", "wrong_number")
HISTORY_KEYS = (*HISTORY_COUNTS, *HISTORY_FLAGS, "last_reached")
CASE_KEYS = (*BORROWER_FIELDS, "alt_phones", "history")

# Rule names the code guard gives when a hand-built book would loosen a rule (never reached via the loader).
GUARD_REVIEW = "GUARD_REVIEW_OPEN"
GUARD_OPT_OUT = "GUARD_C7"


class CaseError(ValueError):
    """A case line that cannot be allocated; `field` names the key (dotted inside `history`)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class History:
    """What the records say about a borrower, across campaigns (missing = 0 / false)."""

    broken_promises: int = 0
    refusals_confirmed: int = 0
    open_complaint: bool = False
    open_dispute: bool = False
    hardship: bool = False
    opted_out_all: bool = False
    wrong_number: bool = False
    last_reached: dt.date | None = None  # the last answered call, local day


@dataclass(frozen=True)
class Case:
    borrower_id: str
    amount_due: float
    risk_score: int
    value_tier: str = "normal"
    due_date: dt.date | None = None
    overdue_days: int | None = None
    history: History = field(default_factory=History)

    def days_past_due(self, today: dt.date) -> int:
        """`today - due_date`, or the recorded `overdue_days` when there is no due date."""
        if self.due_date is not None:
            return (today - self.due_date).days
        return self.overdue_days or 0


@dataclass(frozen=True)
class Allocation:
    borrower_id: str
    channel: str
    rule: str
    queue: str | None = None
    step: str | None = None
    mediation_kind: str | None = None
    strategy: str | None = None  # bot: the strategy that dials it
    segment: str | None = None
    days_past_due: int = 0

    def to_json(self) -> dict[str, Any]:
        """The line `server.py allocate --json` prints (issue 13's format, nothing more)."""
        return {"borrower_id": self.borrower_id, "channel": self.channel, "queue": self.queue, "step": self.step,
                "rule": self.rule}


def stage_of(days_past_due: int) -> str:
    """Same bands as `Borrower.stage`: M0 pre-due, M1 1-30, M2 31-60, M3 61+."""
    if days_past_due <= 0:
        return "M0"
    if days_past_due <= 30:
        return "M1"
    if days_past_due <= 60:
        return "M2"
    return "M3"


def segment_of(case: Case, today: dt.date, segments: tuple[Segment, ...]) -> Segment | None:
    stage = stage_of(case.days_past_due(today))
    for segment in segments:
        if segment.matches(stage, case.value_tier, case.risk_score):
            return segment
    return None


def _holds(cond: Condition, case: Case, today: dt.date, days: int, segment: Segment | None) -> bool:
    h = case.history
    numbers = {"days_past_due": days, "balance": case.amount_due, "broken_promises": h.broken_promises,
               "refusals_confirmed": h.refusals_confirmed}
    for key, bound in cond.values.items():
        if key.endswith("_min") and numbers[key[:-4]] < bound:
            return False
        if key.endswith("_max") and numbers[key[:-4]] > bound:
            return False
        if key == "segment" and (segment is None or segment.name not in bound):
            return False
        if key == "reached_within_days" and (h.last_reached is None or (today - h.last_reached).days > bound):
            return False
        if key == "not_reached_within_days" and h.last_reached is not None and (today - h.last_reached).days <= bound:
            return False
        if isinstance(bound, bool) and getattr(h, key) is not bound:
            return False
    return True


def matches(rule: AllocationRule, case: Case, today: dt.date, segment: Segment | None) -> bool:
    days = case.days_past_due(today)
    if not _holds(rule.when, case, today, days, segment):
        return False
    return not rule.when_any or any(_holds(c, case, today, days, segment) for c in rule.when_any)


def allocate(case: Case, book: AllocationBook, today: dt.date, segments: tuple[Segment, ...] = ()) -> Allocation:
    """The first matching rule's channel; the code guard re-applies the rules the loader checks."""
    segment = segment_of(case, today, segments)
    days = case.days_past_due(today)
    base = Allocation(borrower_id=case.borrower_id, channel="hold", rule="NO_RULE",
                      segment=segment.name if segment else None, days_past_due=days)
    for rule in book.rules:
        if not matches(rule, case, today, segment):
            continue
        h = case.history
        if rule.channel in ("bot", "legal") and (h.open_complaint or h.open_dispute):
            return replace(base, channel="agent", rule=GUARD_REVIEW, queue="complaints")
        if rule.channel == "bot" and h.opted_out_all:
            return replace(base, channel="hold", rule=GUARD_OPT_OUT)
        strategy = (rule.strategy or (segment.strategy if segment else None)) if rule.channel == "bot" else None
        return replace(base, channel=rule.channel, rule=rule.name, queue=rule.queue, step=rule.step,
                       mediation_kind=rule.mediation_kind, strategy=strategy)
    # The loader requires an unconditional last rule; a hand-built book without one holds the case.
    return base


# -- reading one case line (the borrower fields of the import plus `history`) ------------------------
def parse_case(data: Mapping[str, Any]) -> Case:
    """Validate one case object; raises `CaseError(field, reason)` for the first bad field."""
    if not isinstance(data, Mapping):
        raise CaseError("(line)", f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(CASE_KEYS))
    if unknown:
        raise CaseError(unknown[0], "unknown field (known: " + ", ".join(CASE_KEYS) + ")")
    borrower_id = data.get("id")
    if not isinstance(borrower_id, str) or not borrower_id.strip():
        raise CaseError("id", "expected a non-empty string")
    amount = data.get("amount_due")
    if isinstance(amount, str):
        try:
            amount = float(amount.replace(",", ""))
        except ValueError:
            raise CaseError("amount_due", f"expected a number, got {amount!r}") from None
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount) or amount < 0:
        raise CaseError("amount_due", f"expected a number >= 0, got {amount!r}")
    risk = data.get("risk_score")
    if isinstance(risk, bool) or not isinstance(risk, int) or not 0 <= risk <= 1000:
        raise CaseError("risk_score", f"expected a whole number 0..1000, got {risk!r}")
    tier = data.get("value_tier") or "normal"
    if tier not in VALUE_TIERS:
        raise CaseError("value_tier", f"expected one of {', '.join(VALUE_TIERS)}, got {tier!r}")
    due: dt.date | None = None
    if data.get("due_date") is not None:
        raw = data["due_date"]
        try:
            due = dt.date.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            due = None
        if due is None:
            raise CaseError("due_date", f"expected an ISO date YYYY-MM-DD, got {raw!r}")
    overdue = data.get("overdue_days")
    if overdue is not None and (isinstance(overdue, bool) or not isinstance(overdue, int) or overdue < -3650):
        raise CaseError("overdue_days", f"expected a whole number, got {overdue!r}")
    if due is None and overdue is None:
        raise CaseError("due_date", "required when there is no overdue_days (days past due come from one of them)")
    return Case(borrower_id=borrower_id.strip(), amount_due=float(amount), risk_score=risk, value_tier=tier,
                due_date=due, overdue_days=overdue, history=parse_history(data.get("history")))


def parse_history(raw: Any) -> History:
    if raw is None:
        return History()
    if not isinstance(raw, Mapping):
        raise CaseError("history", f"expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(HISTORY_KEYS))
    if unknown:
        raise CaseError(f"history.{unknown[0]}", "unknown key (known: " + ", ".join(HISTORY_KEYS) + ")")
    values: dict[str, Any] = {}
    for key in HISTORY_COUNTS:
        value = raw.get(key, 0)
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int) or value < 0:
            raise CaseError(f"history.{key}", f"expected a count >= 0, got {value!r}")
        values[key] = value
    for key in HISTORY_FLAGS:
        value = raw.get(key, False)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = value > 0  # a count of complaints etc. counts as "there is one"
        if not isinstance(value, bool):
            raise CaseError(f"history.{key}", f"expected true/false or a count, got {value!r}")
        values[key] = value
    reached = raw.get("last_reached")
    if reached is not None:
        try:
            values["last_reached"] = dt.date.fromisoformat(str(reached)[:10])
        except ValueError:
            raise CaseError("history.last_reached", f"expected an ISO date, got {reached!r}") from None
    return History(**values)

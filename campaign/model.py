"""Plain frozen data the store hands out and the scheduler, dialer and API read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CAMPAIGN_STATES = ("draft", "scheduled", "running", "paused", "finished")

# Borrower status inside a campaign: 'active' borrowers are dialled when due; the rest are settled.
BORROWER_ACTIVE = "active"
BORROWER_REVIEW = "review"  # complaint/dispute/hardship: a human takes over
BORROWER_STOPPED = "stopped"  # paid, opt-out, wrong number everywhere, transferred
BORROWER_EXHAUSTED = "exhausted"  # max_attempts_total reached


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    state: str
    strategy: str | None  # overrides the segment's strategy when set
    timezone: str
    trunk: str | None
    caller_id: str
    max_concurrent_calls: int
    calls_per_second: float
    created_at: float
    start_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state, "strategy": self.strategy,
            "timezone": self.timezone, "trunk": self.trunk, "caller_id": self.caller_id,
            "max_concurrent_calls": self.max_concurrent_calls, "calls_per_second": self.calls_per_second,
            "created_at": self.created_at, "start_at": self.start_at, "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class ImportedBorrower:
    """A validated borrower row: the dialogue's record plus every number it may be reached on."""

    borrower_id: str
    data: dict[str, Any]  # the borrower record as dialogue.borrower.Borrower.from_dict reads it
    phones: tuple[str, ...]  # E.164, primary first
    timezone: str | None
    segment: str | None = None
    strategy: str | None = None
    script_set: str | None = None
    priority: float = 0.0


@dataclass(frozen=True)
class BorrowerState:
    campaign_id: str
    borrower_id: str
    data: dict[str, Any]
    timezone: str | None
    segment: str | None
    strategy: str | None
    script_set: str | None
    priority: float
    status: str
    stop_reason: str | None
    next_due_at: float | None
    next_reason: str
    trunk_error_streak: int
    attempts_total: int


@dataclass(frozen=True)
class Contact:
    phone: str
    valid: bool


@dataclass(frozen=True)
class AttemptStart:
    """Written (committed) before the INVITE leaves, so a crash can never lose an attempt."""

    attempt_id: str
    campaign_id: str
    borrower_id: str
    phone: str
    trunk: str | None
    reason: str  # scheduled | retry | callback | ptp_check | manual | inbound
    started_at: float
    # 'inbound': the borrower called us back (issue 14). Never counted for C2/C3 nor for max_attempts_total.
    direction: str = "outbound"


@dataclass(frozen=True)
class Refusal:
    """A call the compliance gate would not let out, with the rule that stopped it."""

    rule: str  # C1 | C2 | C3 | C7 | INVALID_CONTACT
    reason: str
    retry_at: float | None = None  # earliest time the same rule could allow a call, if known


@dataclass(frozen=True)
class ImportReport:
    total_rows: int
    inserted: int
    merged: int
    unchanged: int
    duplicates: int = 0  # rows repeating a borrower id inside the same file (merged into one)
    errors: tuple[tuple[int, str], ...] = field(default=())  # (line number, reason)
    warnings: tuple[str, ...] = field(default=())  # imported anyway, but the operator should know

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows, "inserted": self.inserted, "merged": self.merged,
            "unchanged": self.unchanged, "duplicates": self.duplicates,
            "errors": [{"line": n, "reason": r} for n, r in self.errors],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class FollowUp:
    """What happens to the borrower after an attempt (planned by campaign.followups, stored with the result)."""

    status: str
    next_due_at: float | None
    next_reason: str
    trunk_error_streak: int
    stop_reason: str | None = None
    opt_out_phone: bool = False  # C7: add the dialled number to the do-not-call list
    invalidate_phone: bool = False  # wrong/invalid number: never dial it again for this borrower

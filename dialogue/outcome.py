"""How a conversation ended, in the shape the campaign scheduler and QA read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

DISPOSITIONS = (
    "promise_to_pay", "already_paid", "hardship", "negotiation", "refused", "wrong_number", "third_party",
    "callback", "complaint", "opt_out", "dispute", "no_response", "transferred", "hung_up",
)


@dataclass(frozen=True)
class Outcome:
    disposition: str
    ptp_date: dt.date | None = None
    ptp_amount: float | None = None
    callback_at: dt.date | None = None
    opt_out: bool = False
    complaint: bool = False
    identity_confirmed: bool = False
    turns: int = 0  # borrower turns (utterances and key presses)

    def __post_init__(self) -> None:
        if self.disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}, got {self.disposition!r}")
        if self.turns < 0:
            raise ValueError("turns must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "disposition": self.disposition,
            "ptp_date": self.ptp_date.isoformat() if self.ptp_date else None,
            "ptp_amount": self.ptp_amount,
            "callback_at": self.callback_at.isoformat() if self.callback_at else None,
            "opt_out": self.opt_out,
            "complaint": self.complaint,
            "identity_confirmed": self.identity_confirmed,
            "turns": self.turns,
        }

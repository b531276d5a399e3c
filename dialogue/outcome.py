"""How a conversation ended, in the shape the campaign scheduler, the promise store and QA read.

A call can end before the dialogue does (hang-up, max duration, silence, an error). The outcome then
keeps the strongest fact the borrower stated, by `PRECEDENCE` (docs/dialogue.md), and every fact is
also carried in its own field, so an opt-out never hides a promise and a hang-up never loses one.
Field names are a contract with the store: `ptp_date`, `ptp_amount`, `confirmed` (the promise was
read back and confirmed), `verified` (an already-paid claim was checked; the bot never can).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

DISPOSITIONS = (
    "promise_to_pay", "already_paid", "hardship", "negotiation", "refused", "wrong_number", "third_party",
    "callback", "complaint", "opt_out", "dispute", "no_response", "transferred", "hung_up",
)

# Strongest first: the disposition of a call cut short is the first of these the borrower stated.
# opt_out and complaint are compliance duties (C7, C9); a dispute needs a person before any
# promise is chased; a promise is money, and beats a claim of payment that still needs checking.
PRECEDENCE = (
    "opt_out", "complaint", "dispute", "promise_to_pay", "already_paid", "hardship", "negotiation",
    "callback", "refused", "wrong_number", "third_party",
)


@dataclass(frozen=True)
class Outcome:
    disposition: str
    ptp_date: dt.date | None = None
    ptp_amount: float | None = None
    callback_at: dt.date | dt.datetime | None = None  # a day, or a local date-time when a time was said
    opt_out: bool = False
    complaint: bool = False
    identity_confirmed: bool = False
    turns: int = 0  # borrower turns (utterances and key presses)
    confirmed: bool = False  # the promise (ptp_date/ptp_amount) was read back and confirmed
    ptp_full_amount: bool = False  # no amount was said: the promise is for the amount due
    already_paid: bool = False  # the borrower said they already paid
    verified: bool = False  # a payment claim is never verified by the bot; the payments feed does that
    hardship: bool = False
    negotiation: bool = False  # asked for an installment plan or a deferral
    refused: bool = False
    dispute: bool = False
    third_party: bool = False
    wrong_number: bool = False
    callback_requested: bool = False  # a person or the bot should call back (callback_at when a time was said)
    transfer_failed: bool = False  # a transfer to a human agent was attempted and did not happen
    completed: bool = True  # False: the call ended before the dialogue reached an end
    # Mediation notice calls (issue 13): True the borrower agreed to be contacted by the mediator, False
    # declined (or asked to stop calls after agreeing), None not asked or no clear answer.
    mediation_consent: bool | None = None

    def __post_init__(self) -> None:
        if self.disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}, got {self.disposition!r}")
        if self.turns < 0:
            raise ValueError("turns must be >= 0")
        if self.mediation_consent is True and self.opt_out:
            raise ValueError("mediation_consent cannot be true with opt_out: a stop-calling request withdraws it")

    @property
    def promised(self) -> bool:
        return self.ptp_date is not None or self.ptp_amount is not None

    def to_dict(self) -> dict[str, Any]:
        callback = self.callback_at
        if isinstance(callback, dt.datetime):
            callback_text: str | None = callback.strftime("%Y-%m-%dT%H:%M")
        else:
            callback_text = callback.isoformat() if callback else None
        return {
            "disposition": self.disposition,
            "ptp_date": self.ptp_date.isoformat() if self.ptp_date else None,
            "ptp_amount": self.ptp_amount,
            "confirmed": self.confirmed,
            "ptp_full_amount": self.ptp_full_amount,
            "callback_at": callback_text,
            "callback_requested": self.callback_requested,
            "opt_out": self.opt_out,
            "complaint": self.complaint,
            "already_paid": self.already_paid,
            "verified": self.verified,
            "hardship": self.hardship,
            "negotiation": self.negotiation,
            "refused": self.refused,
            "dispute": self.dispute,
            "third_party": self.third_party,
            "wrong_number": self.wrong_number,
            "transfer_failed": self.transfer_failed,
            "identity_confirmed": self.identity_confirmed,
            "completed": self.completed,
            "turns": self.turns,
            "mediation_consent": self.mediation_consent,
        }

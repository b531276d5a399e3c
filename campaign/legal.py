"""The legal track's timeline: dated steps (mediation of a kind, litigation, filing, enforcement, closed) per case.

Only a case the allocation put in `legal` gets steps, and a closed case gets no more: the timeline
is what a mediator or court reads in the evidence package, so it must never hold a step for a case
we were still calling with the bot, or a step after the case was settled. Steps are appended,
never edited, and each one is an audit-log entry (ids and the step only; the note may hold personal
data and stays in the store).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from campaign.db import Connection
from config.allocation_config import LEGAL_STEPS, MEDIATION_KINDS

CLOSED_KINDS = ("settled", "paid", "withdrawn")
STEP_FIELDS = ("step", "kind", "date", "actor", "note")


class LegalStepError(ValueError):
    """A step body field that is missing or unusable; the message starts with the field."""


class LegalStateError(Exception):
    """The case is not in the legal channel, or its timeline is already closed."""


class UnknownCaseError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Store(Protocol):
    @property
    def connection(self) -> Connection: ...

    def transaction(self) -> Any: ...

    def audit(self, actor: str, action: str, campaign_id: str | None, detail: dict[str, Any], at: float) -> None: ...


def parse_step(body: Any, default_kind: str) -> dict[str, Any]:
    """Validate a step body: `step`, `kind` (mediation kind or closing reason), `date`, `actor`, `note`."""
    if not isinstance(body, Mapping):
        raise LegalStepError("body: expected a JSON object")
    unknown = sorted(set(body) - set(STEP_FIELDS))
    if unknown:
        raise LegalStepError(f"{unknown[0]}: unknown field (known: {', '.join(STEP_FIELDS)})")
    step = body.get("step")
    if step not in LEGAL_STEPS:
        raise LegalStepError(f"step: expected one of {', '.join(LEGAL_STEPS)}, got {step!r}")
    kind = body.get("kind")
    if step == "mediation":
        kind = kind or default_kind
        if kind not in MEDIATION_KINDS:
            raise LegalStepError(f"kind: a mediation kind, one of {', '.join(MEDIATION_KINDS)}, got {kind!r}")
    elif step == "closed":
        if kind not in CLOSED_KINDS:
            raise LegalStepError(f"kind: how the case closed, one of {', '.join(CLOSED_KINDS)}, got {kind!r}")
    elif kind is not None:
        raise LegalStepError(f"kind: only mediation and closed steps have a kind, got {kind!r}")
    raw_date = body.get("date")
    try:
        day = dt.date.fromisoformat(raw_date) if isinstance(raw_date, str) else None
    except ValueError:
        day = None
    if day is None:
        raise LegalStepError(f"date: expected an ISO date YYYY-MM-DD, got {raw_date!r}")
    actor = body.get("actor")
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200:
        raise LegalStepError("actor: who took the step (a mediator, court, lawyer), a non-empty string")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 4000:
        raise LegalStepError("note: a string of at most 4000 characters")
    return {"step": step, "kind": kind, "day": day.isoformat(), "actor": actor.strip(), "note": note}


def _step_dict(r: Any) -> dict[str, Any]:
    return {"id": int(r["id"]), "step": r["step"], "kind": r["kind"], "date": r["day"], "actor": r["actor"],
            "note": r["note"], "recorded_by": r["recorded_by"], "created_at": float(r["created_at"])}


def add_step(store: Store, borrower_id: str, body: Any, recorded_by: str, now: float,
             default_kind: str = "self") -> dict[str, Any]:
    """Append one step to a legal case's timeline (validated first; nothing is stored on any error)."""
    step = parse_step(body, default_kind)
    db = store.connection
    if db.execute("SELECT 1 FROM borrowers WHERE borrower_id = ? LIMIT 1", (borrower_id,)).fetchone() is None:
        raise UnknownCaseError(f"no borrower {borrower_id!r}")
    with store.transaction() as tx:
        alloc = tx.execute("SELECT channel FROM allocations WHERE borrower_id = ?", (borrower_id,)).fetchone()
        if alloc is None or alloc["channel"] != "legal":
            where = alloc["channel"] if alloc is not None else "no channel yet"
            raise LegalStateError(f"borrower {borrower_id} is not allocated to legal ({where})")
        last = tx.execute("SELECT step FROM legal_steps WHERE borrower_id = ? ORDER BY id DESC LIMIT 1",
                          (borrower_id,)).fetchone()
        if last is not None and last["step"] == "closed":
            raise LegalStateError(f"the legal timeline of {borrower_id} is closed")
        row = tx.execute(
            "INSERT INTO legal_steps (borrower_id, step, kind, day, actor, note, recorded_by, created_at)"
            " VALUES (?,?,?,?,?,?,?,?) RETURNING *",
            (borrower_id, step["step"], step["kind"], step["day"], step["actor"], step["note"], recorded_by,
             now)).fetchone()
    store.audit(recorded_by, "legal_step", None, {"borrower_id": borrower_id, "step": step["step"],
                                                  "kind": step["kind"], "date": step["day"]}, now)
    return {"borrower_id": borrower_id, **_step_dict(row)}


def legal_cases(db: Connection) -> list[dict[str, Any]]:
    """Every case allocated to legal or with a timeline, with its steps in order and its current state."""
    ids = [r[0] for r in db.execute(
        "SELECT borrower_id FROM allocations WHERE channel = 'legal' UNION SELECT borrower_id FROM legal_steps"
        " ORDER BY 1")]
    cases = []
    for bid in ids:
        alloc = db.execute("SELECT * FROM allocations WHERE borrower_id = ?", (bid,)).fetchone()
        steps = [_step_dict(r) for r in db.execute("SELECT * FROM legal_steps WHERE borrower_id = ? ORDER BY id",
                                                   (bid,))]
        cases.append({
            "borrower_id": bid, "channel": alloc["channel"] if alloc is not None else None,
            "rule": alloc["rule"] if alloc is not None else None,
            "mediation_kind": alloc["mediation_kind"] if alloc is not None else None,
            "allocated_at": float(alloc["decided_at"]) if alloc is not None else None,
            "current_step": steps[-1]["step"] if steps else None,
            "closed": bool(steps) and steps[-1]["step"] == "closed",
            "steps": steps,
        })
    return cases

"""Cases for allocation counted from the store: every borrower with its history across campaigns.

Kept apart from `campaign.allocation` so the rule engine stays pure; this module only reads
(promise states from the ledger's `promises`, open facts from `borrower_facts`, outcomes, opt-outs
and answered calls), so a CLI run over a live store never changes anything. Everything is read
with one grouped query per table, not per borrower: most of these tables have no index by borrower
alone, and the daily run holds the reactor while it reads (bench/allocation.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from campaign.allocation import Case, History
from campaign.borrower_facts import (
    FACT_COMPLAINT,
    FACT_DISPUTE,
    FACT_WRONG_NUMBER,
    PROMISE_BROKEN,
    PROMISE_PARTLY_KEPT,
)
from campaign.db import Connection


@dataclass
class _Counts:
    broken: int = 0
    refusals: int = 0
    hardship: bool = False
    kinds: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    opted: set[str] = field(default_factory=set)
    last_answered: float | None = None


def _counts(db: Connection, only: str | None) -> dict[str, _Counts]:
    where, args = (" AND borrower_id = ?", (only,)) if only is not None else ("", ())
    out: dict[str, _Counts] = defaultdict(_Counts)
    for r in db.execute(f"SELECT borrower_id, COUNT(*) FROM promises WHERE state IN (?, ?){where} GROUP BY 1",
                        (PROMISE_BROKEN, PROMISE_PARTLY_KEPT, *args)):
        out[r[0]].broken = int(r[1])
    for r in db.execute("SELECT borrower_id, disposition, data FROM outcomes"
                        f" WHERE disposition IN ('refused', 'hardship'){where}", args):
        if r[1] == "hardship":
            out[r[0]].hardship = True
        elif json.loads(r[2] or "{}").get("identity_confirmed"):
            out[r[0]].refusals += 1
    for r in db.execute(f"SELECT DISTINCT borrower_id, kind FROM borrower_facts WHERE state = 'open'{where}", args):
        out[r[0]].kinds.add(r[1])
    contact_where = where.replace("borrower_id", "c.borrower_id")
    for r in db.execute("SELECT DISTINCT c.borrower_id, c.phone, o.phone IS NOT NULL FROM contacts c"
                        f" LEFT JOIN opt_outs o ON o.phone = c.phone WHERE 1 = 1{contact_where}", args):
        out[r[0]].phones.add(r[1])
        if r[2]:
            out[r[0]].opted.add(r[1])
    for r in db.execute(f"SELECT borrower_id, MAX(answered_at) FROM calls WHERE answered_at IS NOT NULL{where}"
                        " GROUP BY 1", args):
        out[r[0]].last_answered = float(r[1])
    return out


def _history(c: _Counts, zone: ZoneInfo) -> History:
    return History(
        broken_promises=c.broken, refusals_confirmed=c.refusals, open_complaint=FACT_COMPLAINT in c.kinds,
        open_dispute=FACT_DISPUTE in c.kinds, hardship=c.hardship,
        opted_out_all=bool(c.phones) and c.phones <= c.opted, wrong_number=FACT_WRONG_NUMBER in c.kinds,
        last_reached=dt.datetime.fromtimestamp(c.last_answered, zone).date() if c.last_answered is not None else None,
    )


def history_of(db: Connection, borrower_id: str, zone: ZoneInfo) -> History:
    """Counts and flags of one borrower; a promise broken or only partly kept counts as broken."""
    return _history(_counts(db, borrower_id).get(borrower_id, _Counts()), zone)


def cases_from_store(db: Connection, default_timezone: str = "Asia/Shanghai") -> list[Case]:
    """One case per borrower id; the debt facts come from the most recently imported row of it."""
    latest: dict[str, Any] = {}
    for row in db.execute("SELECT borrower_id, data, timezone FROM borrowers ORDER BY borrower_id, imported_at"):
        latest[row["borrower_id"]] = row  # later imports overwrite earlier ones
    counts = _counts(db, None)
    cases = []
    for borrower_id, row in sorted(latest.items()):
        data = json.loads(row["data"])
        zone = ZoneInfo(row["timezone"] or default_timezone)
        due = data.get("due_date")
        cases.append(Case(
            borrower_id=borrower_id, amount_due=float(data.get("amount_due") or 0.0),
            risk_score=int(data.get("risk_score") or 0), value_tier=str(data.get("value_tier") or "normal"),
            due_date=dt.date.fromisoformat(due) if due else None, overdue_days=data.get("overdue_days"),
            history=_history(counts.get(borrower_id, _Counts()), zone),
        ))
    return cases

"""Cases for allocation counted from the store: every borrower with its history across campaigns.

Kept apart from `campaign.allocation` so the rule engine stays pure; this module only reads
(promise states from the ledger's `promises`, open facts from `borrower_facts`, outcomes, opt-outs
and answered calls), so a CLI run over a live store never changes anything.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from zoneinfo import ZoneInfo

from campaign.allocation import Case, History
from campaign.borrower_facts import (
    FACT_COMPLAINT,
    FACT_DISPUTE,
    FACT_WRONG_NUMBER,
    PROMISE_BROKEN,
    PROMISE_PARTLY_KEPT,
)


def _borrower_ids(db: sqlite3.Connection) -> list[str]:
    return [r["borrower_id"] for r in db.execute("SELECT DISTINCT borrower_id FROM borrowers ORDER BY borrower_id")]


def history_of(db: sqlite3.Connection, borrower_id: str, zone: ZoneInfo) -> History:
    """Counts and flags of one borrower; a promise broken or only partly kept counts as broken."""
    q = db.execute
    broken = q("SELECT COUNT(*) FROM promises WHERE borrower_id = ? AND state IN (?, ?)",
               (borrower_id, PROMISE_BROKEN, PROMISE_PARTLY_KEPT)).fetchone()[0]
    refusals = 0
    hardship = False
    for r in q("SELECT disposition, data FROM outcomes WHERE borrower_id = ?"
               " AND disposition IN ('refused', 'hardship')", (borrower_id,)):
        if r["disposition"] == "hardship":
            hardship = True
        elif json.loads(r["data"] or "{}").get("identity_confirmed"):
            refusals += 1
    kinds = {r["kind"] for r in q("SELECT DISTINCT kind FROM borrower_facts WHERE borrower_id = ? AND state = 'open'",
                                  (borrower_id,))}
    phones = {r["phone"] for r in q("SELECT DISTINCT phone FROM contacts WHERE borrower_id = ?", (borrower_id,))}
    opted = {r["phone"] for r in q("SELECT phone FROM opt_outs WHERE phone IN (SELECT phone FROM contacts"
                                   " WHERE borrower_id = ?)", (borrower_id,))}
    last = q("SELECT MAX(answered_at) FROM calls WHERE borrower_id = ? AND answered_at IS NOT NULL",
             (borrower_id,)).fetchone()[0]
    return History(
        broken_promises=int(broken), refusals_confirmed=refusals, open_complaint=FACT_COMPLAINT in kinds,
        open_dispute=FACT_DISPUTE in kinds, hardship=hardship, opted_out_all=bool(phones) and phones <= opted,
        wrong_number=FACT_WRONG_NUMBER in kinds,
        last_reached=dt.datetime.fromtimestamp(float(last), zone).date() if last is not None else None,
    )


def cases_from_store(db: sqlite3.Connection, default_timezone: str = "Asia/Shanghai") -> list[Case]:
    """One case per borrower id; the debt facts come from the most recently imported row of it."""
    cases = []
    for borrower_id in _borrower_ids(db):
        row = db.execute("SELECT data, timezone FROM borrowers WHERE borrower_id = ? ORDER BY imported_at DESC"
                         " LIMIT 1", (borrower_id,)).fetchone()
        data = json.loads(row["data"])
        zone = ZoneInfo(row["timezone"] or default_timezone)
        due = data.get("due_date")
        cases.append(Case(
            borrower_id=borrower_id, amount_due=float(data.get("amount_due") or 0.0),
            risk_score=int(data.get("risk_score") or 0), value_tier=str(data.get("value_tier") or "normal"),
            due_date=dt.date.fromisoformat(due) if due else None, overdue_days=data.get("overdue_days"),
            history=history_of(db, borrower_id, zone),
        ))
    return cases

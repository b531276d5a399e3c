"""What one borrower told us, kept per borrower (and per number), not per campaign.

Why a table of its own: the same list imported into two campaigns used to redial a borrower minutes
after a complaint or a promise, because each campaign only knew its own `borrowers` row. Facts live
here once; the compliance gate reads them for every campaign (`fact_refusal`), and a promise is one
row in `promises` however many campaigns hold the borrower, so totals never count it twice.

The writes run inside the store's `complete_attempt` transaction (a crash can never keep the call
and lose the fact); reading and the refusal policy are plain functions so they are tested alone.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from campaign.db import Connection
from campaign.model import FollowUp, Refusal
from session.record import CallRecord

# Fact kinds (borrower_facts.kind)
FACT_COMPLAINT = "complaint"
FACT_DISPUTE = "dispute"
FACT_PAID_CLAIM = "already_paid"
FACT_WRONG_NUMBER = "wrong_number"
FACT_CALLBACK = "callback"
FACT_SETTLED = "settled"  # a promise kept in full: no more calls for that debt
REVIEW_KINDS = (FACT_COMPLAINT, FACT_DISPUTE)

# Refusal rule names (stored in `refusals.rule` like C1-C7)
RULE_REVIEW_OPEN = "REVIEW_OPEN"
RULE_PROMISE_PENDING = "PROMISE_PENDING"
RULE_PAID_CLAIM = "PAID_CLAIM"
RULE_WRONG_NUMBER = "WRONG_NUMBER"
RULE_CALLBACK_TIME = "CALLBACK_TIME"
RULE_PROMISE_KEPT = "PROMISE_KEPT"
FACT_RULES = (RULE_REVIEW_OPEN, RULE_PROMISE_PENDING, RULE_PAID_CLAIM, RULE_WRONG_NUMBER, RULE_CALLBACK_TIME,
              RULE_PROMISE_KEPT)

# Promise states
PROMISE_PENDING = "pending"
PROMISE_KEPT = "kept"
PROMISE_PARTLY_KEPT = "partly_kept"
PROMISE_BROKEN = "broken"
PROMISE_SUPERSEDED = "superseded"
PROMISE_STATES = (PROMISE_PENDING, PROMISE_KEPT, PROMISE_PARTLY_KEPT, PROMISE_BROKEN, PROMISE_SUPERSEDED)

# Calls the campaign that holds a promise makes about it; other reasons wait for the promise's date.
PROMISE_FOLLOW_UP_REASONS = ("ptp_reminder", "broken_promise", "ptp_check")
NO_DATE_DAYS = 7  # a promise without a date is judged this many days after the call
FOLLOW_UP_HOLD_DAYS = 3  # other campaigns wait at most this long for the holder's broken-promise call
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class BorrowerFact:
    id: int
    borrower_id: str
    phone: str | None  # None: the fact is about the borrower, not one number
    kind: str
    state: str  # open | resolved
    campaign_id: str | None
    call_id: str | None
    until: float | None  # a callback time: blocks other campaigns until then
    created_at: float


@dataclass(frozen=True)
class Promise:
    id: str
    borrower_id: str
    campaign_id: str
    call_id: str | None
    promised_date: dt.date
    amount: float
    confirmed: bool
    state: str
    paid_amount: float
    timezone: str
    follow_up: str | None  # None | scheduled | done: the one call a broken promise gets
    created_at: float
    updated_at: float = 0.0  # for a decided promise: when it was decided

    def decided_at(self, grace_days: int) -> float:
        """End of (promised date + grace) in the borrower's zone: after this the promise is kept or not."""
        day = self.promised_date + dt.timedelta(days=grace_days + 1)
        return dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo(self.timezone)).timestamp()


def fact_refusal(
    facts: list[BorrowerFact], promises: list[Promise], *, phone: str, campaign_id: str | None, reason: str,
    now: float, grace_days: int, verify_days: int,
) -> Refusal | None:
    """The first stored fact that forbids this dial, as a refusal with a rule name, or None."""
    for fact in facts:
        if fact.state != "open":
            continue
        if fact.kind in REVIEW_KINDS:
            return Refusal(RULE_REVIEW_OPEN, f"an open {fact.kind} (campaign {fact.campaign_id}) awaits human review")
        if fact.kind == FACT_SETTLED:
            return Refusal(RULE_PROMISE_KEPT, "the borrower kept a promise in full; no more calls for this debt")
        if fact.kind == FACT_PAID_CLAIM:
            retry = fact.created_at + verify_days * SECONDS_PER_DAY
            return Refusal(RULE_PAID_CLAIM, "an already-paid claim is being verified against payments",
                           retry_at=retry if retry > now else now + 3600.0)
        if fact.kind == FACT_WRONG_NUMBER and fact.phone == phone:
            return Refusal(RULE_WRONG_NUMBER, "this number was reported as a wrong number for this borrower")
        if (fact.kind == FACT_CALLBACK and fact.until is not None and now < fact.until
                and fact.campaign_id != campaign_id):
            return Refusal(RULE_CALLBACK_TIME, f"the borrower asked to be called back (campaign {fact.campaign_id})",
                           retry_at=fact.until)
    for promise in promises:
        own = promise.campaign_id == campaign_id and reason in PROMISE_FOLLOW_UP_REASONS
        if own:
            continue
        if promise.state == PROMISE_PENDING:
            return Refusal(RULE_PROMISE_PENDING,
                           f"a promise for {promise.promised_date.isoformat()} (campaign {promise.campaign_id}) "
                           "is pending", retry_at=max(now, promise.decided_at(grace_days)))
        if promise.follow_up == "scheduled" and now < promise.updated_at + FOLLOW_UP_HOLD_DAYS * SECONDS_PER_DAY:
            return Refusal(RULE_PROMISE_PENDING,
                           f"campaign {promise.campaign_id} makes the follow-up call of a {promise.state} promise",
                           retry_at=now + SECONDS_PER_DAY)
    return None


# -- reading ---------------------------------------------------------------------------------------
def open_facts(db: Connection, borrower_id: str) -> list[BorrowerFact]:
    rows = db.execute("SELECT * FROM borrower_facts WHERE borrower_id = ? AND state = 'open' ORDER BY id",
                      (borrower_id,)).fetchall()
    return [_fact(r) for r in rows]


def active_promises(db: Connection, borrower_id: str) -> list[Promise]:
    """Pending promises, and decided ones whose one follow-up call is still to be made."""
    rows = db.execute(
        "SELECT * FROM promises WHERE borrower_id = ? AND (state = ? OR follow_up = 'scheduled') ORDER BY created_at",
        (borrower_id, PROMISE_PENDING)).fetchall()
    return [promise_from_row(r) for r in rows]


def promise_from_row(r: Any) -> Promise:
    return Promise(
        id=r["id"], borrower_id=r["borrower_id"], campaign_id=r["campaign_id"], call_id=r["call_id"],
        promised_date=dt.date.fromisoformat(r["promised_date"]), amount=float(r["amount"]),
        confirmed=bool(r["confirmed"]), state=r["state"], paid_amount=float(r["paid_amount"]),
        timezone=r["timezone"], follow_up=r["follow_up"], created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]),
    )


def _fact(r: Any) -> BorrowerFact:
    return BorrowerFact(
        id=int(r["id"]), borrower_id=r["borrower_id"], phone=r["phone"], kind=r["kind"], state=r["state"],
        campaign_id=r["campaign_id"], call_id=r["call_id"], until=r["until"], created_at=float(r["created_at"]),
    )


# -- writing (inside the caller's transaction) -----------------------------------------------------
def add_fact(
    db: Connection, *, borrower_id: str, kind: str, at: float, phone: str | None = None,
    campaign_id: str | None = None, call_id: str | None = None, until: float | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    db.execute(
        "INSERT INTO borrower_facts (borrower_id, phone, kind, state, campaign_id, call_id, until, detail,"
        " created_at) VALUES (?,?,?,'open',?,?,?,?,?)",
        (borrower_id, phone, kind, campaign_id, call_id, until,
         json.dumps(detail or {}, ensure_ascii=False, default=str), at),
    )


def promise_history(db: Connection, promise_id: str, state: str, at: float, **detail: Any) -> None:
    db.execute("INSERT INTO promise_history (promise_id, at, state, detail) VALUES (?,?,?,?)",
               (promise_id, at, state, json.dumps(detail, ensure_ascii=False, default=str)))


def record_call_facts(
    db: Connection, attempt: Any, record: CallRecord, follow_up: FollowUp | None, at: float
) -> None:
    """The facts one finished call established, written with the call in the same transaction."""
    outcome = record.outcome or {}
    kind = outcome.get("disposition") if record.disposition == "answered" else record.disposition
    borrower_id, campaign_id, phone = attempt["borrower_id"], attempt["campaign_id"], attempt["phone"]
    common = {"borrower_id": borrower_id, "campaign_id": campaign_id, "call_id": record.call_id, "at": at}
    if attempt["reason"] == "broken_promise":
        db.execute("UPDATE promises SET follow_up = 'done', updated_at = ? WHERE borrower_id = ?"
                   " AND campaign_id = ? AND follow_up = 'scheduled'", (at, borrower_id, campaign_id))
    if outcome.get("complaint") or kind == FACT_COMPLAINT:
        add_fact(db, kind=FACT_COMPLAINT, **common)
    elif kind == FACT_DISPUTE:
        add_fact(db, kind=FACT_DISPUTE, **common)
    if kind == FACT_PAID_CLAIM:
        add_fact(db, kind=FACT_PAID_CLAIM, detail={"verified": outcome.get("verified", False)}, **common)
    if kind in ("wrong_number", "invalid_number"):
        add_fact(db, kind=FACT_WRONG_NUMBER, phone=phone, detail={"disposition": kind}, **common)
    if kind == "callback" and follow_up is not None and follow_up.next_reason == "callback":
        add_fact(db, kind=FACT_CALLBACK, until=follow_up.next_due_at, detail={"asked": outcome.get("callback_at")},
                 **common)
    if kind == "promise_to_pay":
        store_promise(db, attempt, record.call_id, outcome, at, script_set=record.script_set)


def store_promise(
    db: Connection, attempt: Any, call_id: str, outcome: dict[str, Any], at: float,
    script_set: str | None = None,
) -> str:
    """One promise row; the same promise restated keeps its row, a different one supersedes the old.

    `script_set` is the set the call spoke (kept rate by script set is judged on it), else the borrower's.
    """
    borrower_id, campaign_id = attempt["borrower_id"], attempt["campaign_id"]
    b = db.execute("SELECT data, timezone, segment, script_set FROM borrowers WHERE campaign_id = ? AND"
                   " borrower_id = ?", (campaign_id, borrower_id)).fetchone()
    c = db.execute("SELECT timezone FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    zone_name = (b["timezone"] if b is not None else None) or (c["timezone"] if c is not None else "Asia/Shanghai")
    data = json.loads(b["data"]) if b is not None else {}
    try:
        day = dt.date.fromisoformat(str(outcome.get("ptp_date"))[:10])
    except ValueError:  # no date said: judge it a week after the call
        day = dt.datetime.fromtimestamp(at, ZoneInfo(zone_name)).date() + dt.timedelta(days=NO_DATE_DAYS)
    raw_amount = outcome.get("ptp_amount")
    amount = float(raw_amount) if raw_amount is not None else float(data.get("amount_due") or 0.0)
    confirmed = bool(outcome.get("confirmed", True))
    for old in db.execute("SELECT * FROM promises WHERE borrower_id = ? AND state = ?",
                          (borrower_id, PROMISE_PENDING)).fetchall():
        if old["promised_date"] == day.isoformat() and abs(float(old["amount"]) - amount) < 0.005:
            db.execute("UPDATE promises SET confirmed = ?, updated_at = ? WHERE id = ?",
                       (max(int(old["confirmed"]), int(confirmed)), at, old["id"]))
            promise_history(db, old["id"], PROMISE_PENDING, at, restated_in=call_id, campaign=campaign_id)
            return str(old["id"])
        db.execute("UPDATE promises SET state = ?, updated_at = ? WHERE id = ?", (PROMISE_SUPERSEDED, at, old["id"]))
        promise_history(db, old["id"], PROMISE_SUPERSEDED, at, by_call=call_id)
    promise_id = f"ptp-{uuid.uuid4().hex[:12]}"
    db.execute(
        "INSERT INTO promises (id, borrower_id, campaign_id, call_id, promised_date, amount, confirmed, state,"
        " segment, script_set, timezone, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (promise_id, borrower_id, campaign_id, call_id, day.isoformat(), amount, int(confirmed), PROMISE_PENDING,
         b["segment"] if b is not None else None, script_set or (b["script_set"] if b is not None else None),
         zone_name, at, at),
    )
    promise_history(db, promise_id, PROMISE_PENDING, at, call=call_id, amount_said=raw_amount is not None)
    return promise_id

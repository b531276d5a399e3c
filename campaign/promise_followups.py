"""Follow-ups of a promise, from the strategy's data: a reminder before the date, then wait for the money.

Why not the old "check call the day after the date": whether a promise was kept is decided by the
payments feed (`campaign.ledger`), not by asking the borrower. After a promise the borrower is
parked (active, nothing due) until the ledger decides: kept in full stops calls for the debt, broken
or partly kept schedules exactly one follow-up call (`broken_promise`). A strategy with
`ptp_reminder_days_before = N` gets one reminder call N days before the promised date, when the
window opens. Every one of these calls still passes the compliance gate.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from campaign.borrower_facts import NO_DATE_DAYS, PROMISE_PENDING, Promise
from campaign.compliance import CallWindow, next_window_open
from campaign.model import BORROWER_ACTIVE, FollowUp
from config.campaign_config import Strategy
from session.record import CallRecord

REASON_REMINDER = "ptp_reminder"
REASON_PENDING = "ptp_pending"  # parked: nothing due until the ledger decides the promise
REASON_BROKEN = "broken_promise"


def promised_day(value: object, now: float, zone: ZoneInfo) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return dt.datetime.fromtimestamp(now, zone).date() + dt.timedelta(days=NO_DATE_DAYS)


def plan_promise_follow_up(
    plan: FollowUp, strategy: Strategy, record: CallRecord, promises: list[Promise], *, campaign_id: str,
    now: float, zone: ZoneInfo, window: CallWindow,
) -> FollowUp:
    """`plan` (from `plan_follow_up`) adjusted for a promise just made or still pending in this campaign."""
    outcome = record.outcome or {}
    kind = outcome.get("disposition") if record.disposition == "answered" else None
    if kind == "promise_to_pay":
        day = promised_day(outcome.get("ptp_date"), now, zone)
        if strategy.ptp_reminder_days_before > 0:
            remind = day - dt.timedelta(days=strategy.ptp_reminder_days_before)
            if remind > dt.datetime.fromtimestamp(now, zone).date():
                start = dt.datetime.combine(remind, window.start, tzinfo=zone).timestamp()
                return FollowUp(BORROWER_ACTIVE, next_window_open(start, zone, window), REASON_REMINDER, 0)
        return FollowUp(BORROWER_ACTIVE, None, REASON_PENDING, 0)
    pending_here = any(p.state == PROMISE_PENDING and p.campaign_id == campaign_id for p in promises)
    if pending_here and plan.status == BORROWER_ACTIVE and not plan.invalidate_phone:
        return FollowUp(BORROWER_ACTIVE, None, REASON_PENDING, 0)  # e.g. after the reminder: wait for the money
    return plan

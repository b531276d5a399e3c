"""What happens to a borrower after an attempt: retry later, follow up at a date, review, or stop.

A pure function of the strategy, the call record and the clock, so the policy is tested without a
store or a reactor. The scheduler applies the returned `FollowUp`; a callback asked for 23:00 is
planned for the next moment the window opens, and the compliance gate still judges the follow-up
call when it comes due.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from campaign.compliance import CallWindow, next_window_open
from campaign.mediation import STOP_NOTIFIED, notice_given
from campaign.model import BORROWER_ACTIVE, BORROWER_EXHAUSTED, BORROWER_REVIEW, BORROWER_STOPPED, FollowUp
from config.campaign_config import Strategy
from session.record import CallRecord

STOP_OUTCOMES = {"already_paid": "paid", "opt_out": "opt_out", "transferred": "transferred"}
REVIEW_OUTCOMES = ("complaint", "dispute", "hardship", "negotiation")


def _stop(reason: str, streak: int = 0, **flags: bool) -> FollowUp:
    return FollowUp(BORROWER_STOPPED, None, "stopped", streak, stop_reason=reason, **flags)


def _parse_when(value: object, zone: ZoneInfo, window: CallWindow, now: float) -> float | None:
    """An ISO date means "that day, when the window opens"; an ISO date-time is that local instant,
    moved to the next moment the window is open when it falls outside (a callback asked for 22:30)."""
    if value is None:
        return None
    text = str(value)
    try:
        if "T" in text or " " in text:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            return next_window_open(max(now, moment.timestamp()), zone, window)
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    start = dt.datetime.combine(day, window.start, tzinfo=zone).timestamp()
    return next_window_open(max(now, start), zone, window)


def plan_follow_up(
    strategy: Strategy, record: CallRecord, *, now: float, zone: ZoneInfo, window: CallWindow,
    attempts_total: int, trunk_error_streak: int, other_valid_numbers: int,
) -> FollowUp:
    outcome = record.outcome or {}
    kind = outcome.get("disposition") if record.disposition == "answered" else record.disposition
    streak = trunk_error_streak + 1 if record.disposition == "trunk_error" else 0

    if outcome.get("opt_out") or kind == "opt_out":
        return _stop("opt_out", opt_out_phone=True)
    if outcome.get("complaint") or kind in REVIEW_OUTCOMES:
        return FollowUp(BORROWER_REVIEW, None, "human_review", 0, stop_reason=str(kind or "complaint"))
    if notice_given(strategy, outcome):  # issue 13: the consent question was answered, the notice is given
        return _stop(STOP_NOTIFIED)
    if kind in STOP_OUTCOMES:
        return _stop(STOP_OUTCOMES[str(kind)])
    if kind in ("wrong_number", "invalid_number"):
        if other_valid_numbers == 0:
            return _stop(str(kind), invalidate_phone=True)
        return FollowUp(BORROWER_ACTIVE, now, "retry", 0, invalidate_phone=True)
    if kind == "promise_to_pay":
        check = _parse_when(outcome.get("ptp_date"), zone, window, now)
        if check is not None:
            day = dt.datetime.fromtimestamp(check, zone).date() + dt.timedelta(days=strategy.ptp_check_days_after)
            start = dt.datetime.combine(day, window.start, tzinfo=zone).timestamp()
            return FollowUp(BORROWER_ACTIVE, next_window_open(start, zone, window), "ptp_check", 0)
        return FollowUp(BORROWER_ACTIVE, now + strategy.retry_after("promise_to_pay"), "ptp_check", 0)
    if kind == "callback":
        when = _parse_when(outcome.get("callback_at"), zone, window, now)
        return FollowUp(BORROWER_ACTIVE, when if when is not None else now + strategy.retry_after("callback"),
                        "callback", 0)
    if attempts_total >= strategy.max_attempts_total:
        return FollowUp(BORROWER_EXHAUSTED, None, "exhausted", streak, stop_reason="max_attempts_total")
    key = str(kind) if kind else "unknown"
    return FollowUp(BORROWER_ACTIVE, now + strategy.retry_after(key, streak), "retry", streak)

"""campaign.followups for callback times (issue 17): a named local time is kept, moved into the window if outside."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaign.compliance import CallWindow
from campaign.followups import plan_follow_up
from config.campaign_config import Strategy
from session.record import CallRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW = CallWindow(dt.time(8, 0), dt.time(21, 0))
NOW = dt.datetime(2026, 11, 28, 14, 10, tzinfo=SHANGHAI).timestamp()


def _record(outcome: dict[str, object]) -> CallRecord:
    return CallRecord(
        call_id="c1", borrower_id="b1", attempt_id="a1", trunk="t", script_set="first_overdue_notice",
        disposition="answered", sip_code=200, sip_reason="OK", invite_sent_at=NOW - 60, ringing_at=None,
        answered_at=NOW - 50, ended_at=NOW, hangup_by="bot", end_reason="done", recording=None, outcome=outcome,
    )


def _due(callback_at: str) -> dt.datetime:
    plan = plan_follow_up(Strategy("standard"), _record({"disposition": "callback", "callback_at": callback_at}),
                          now=NOW, zone=SHANGHAI, window=WINDOW, attempts_total=1, trunk_error_streak=0,
                          other_valid_numbers=0)
    assert plan.next_reason == "callback" and plan.next_due_at is not None
    return dt.datetime.fromtimestamp(plan.next_due_at, SHANGHAI)


@pytest.mark.parametrize(("callback_at", "due"), [
    ("2026-11-29T15:00", dt.datetime(2026, 11, 29, 15, 0)),  # 明天下午: that local time
    ("2026-11-28T20:00", dt.datetime(2026, 11, 28, 20, 0)),  # 晚上八点
    ("2026-11-28T22:30", dt.datetime(2026, 11, 29, 8, 0)),  # outside the window: next opening
    ("2026-11-29T06:00", dt.datetime(2026, 11, 29, 8, 0)),
    ("2026-11-28T09:00", dt.datetime(2026, 11, 28, 14, 10)),  # already past: now (inside the window)
    ("2026-11-30", dt.datetime(2026, 11, 30, 8, 0)),  # a day: when the window opens
])
def test_callback_is_scheduled_at_the_local_time_inside_the_window(callback_at: str, due: dt.datetime) -> None:
    """The callback is due at the borrower's local time, or the next moment the window is open."""
    assert _due(callback_at).replace(tzinfo=None) == due

"""Campaign states over time, DST-aware day bounds, manual calls at random times, atomic imports."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import StackFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.compliance import CallWindow, day_bounds, next_window_open
from campaign.model import ImportedBorrower
from campaign.service import CampaignStateError


def test_scheduled_campaign_starts_at_its_time_and_stop_finishes_it(stack_factory: StackFactory) -> None:
    """start(start_at) waits in 'scheduled' without dialling, runs at start_at; stop -> finished, no new dials."""
    s = stack_factory()
    s.runner.talk_s = 50
    c = s.service.create_campaign("later", max_concurrent_calls=1)
    s.service.import_records(c.id, [borrower_row(i) for i in range(3)])
    s.scheduler.start()
    assert s.service.start(c.id, start_at=s.clock.seconds() + 600).state == "scheduled"
    run_for(s.clock, 590, step=10)
    assert s.placer.dials == []
    run_for(s.clock, 20)
    assert s.store.get_campaign(c.id).state == "running" and len(s.placer.dials) == 1
    assert s.service.stop(c.id).state == "finished"
    run_for(s.clock, 300, step=5)
    assert len(s.placer.dials) == 1 and len(s.store.list_calls(c.id)) == 1  # the live call still finished
    with pytest.raises(CampaignStateError):
        s.service.resume(c.id)


def test_day_bounds_follow_dst_days() -> None:
    """The local day is 23 h on the spring-forward day and 25 h on the fall-back day (America/New_York)."""
    ny = ZoneInfo("America/New_York")
    spring = dt.datetime(2026, 3, 8, 12, tzinfo=ny).timestamp()
    fall = dt.datetime(2026, 11, 1, 12, tzinfo=ny).timestamp()
    assert (lambda b: b[1] - b[0])(day_bounds(spring, ny)) == 23 * 3600
    assert (lambda b: b[1] - b[0])(day_bounds(fall, ny)) == 25 * 3600


def test_next_window_open_after_evening_is_next_morning_local() -> None:
    """At 21:30 in London the 08:30-21:00 window next opens at 08:30 the next local day (across DST end)."""
    london = ZoneInfo("Europe/London")
    now = dt.datetime(2026, 10, 24, 21, 30, tzinfo=london).timestamp()
    opens = next_window_open(now, london, CallWindow(dt.time(8, 30), dt.time(21, 0)))
    assert dt.datetime.fromtimestamp(opens, london) == dt.datetime(2026, 10, 25, 8, 30, tzinfo=london)


@settings(max_examples=40, deadline=None)
@given(minute_of_week=st.integers(0, 7 * 24 * 60 - 1),
       zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney", None]))
def test_call_now_never_dials_outside_the_window(minute_of_week: int, zone: str | None) -> None:
    """An operator's 'call now' at any moment dials only inside the borrower's local window, else C1."""
    import tempfile
    from pathlib import Path

    from campaign_stack import build_stack

    with tempfile.TemporaryDirectory() as tmp:
        s = build_stack(Path(tmp) / "n.db", start=at_local(2026, 3, 2, 0, 0) + minute_of_week * 60)
        c = s.service.create_campaign("manual")
        row = borrower_row(1)
        if zone is None:
            del row["timezone"]
        else:
            row["timezone"] = zone
        s.service.import_records(c.id, [row])
        result = s.service.call_now(c.id, "B001")
        local = dt.datetime.fromtimestamp(s.clock.seconds(), ZoneInfo(zone or "Asia/Shanghai"))
        window = (dt.time(8, 30), dt.time(21, 0))  # 'standard' strategy (segment M1_low_risk)
        inside = window[0] <= local.time() < window[1]
        assert bool(s.placer.dials) == inside
        if not inside:
            assert getattr(result, "rule", None) == "C1"
            assert [r["rule"] for r in s.store.refusals(c.id)] == ["C1"]
        s.store.close()


def test_failed_import_write_leaves_nothing_half_written(stack_factory: StackFactory) -> None:
    """If the write fails on the third row, the first two are rolled back too."""
    s = stack_factory()
    c = s.service.create_campaign("atomic")
    good = [ImportedBorrower(f"B{i}", {"id": f"B{i}"}, (f"+861380013000{i}",), None, strategy="standard")
            for i in range(2)]
    broken = ImportedBorrower("B9", {"id": object()}, ("+8613800130009",), None, strategy="standard")
    with pytest.raises(TypeError):
        s.store.upsert_borrowers(c.id, [*good, broken], s.clock.seconds())
    assert s.store.list_borrowers(c.id) == []
    assert s.store.contacts(c.id, "B0") == []

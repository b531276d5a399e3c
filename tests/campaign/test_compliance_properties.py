"""Property tests (hypothesis): whatever the borrowers, clocks, zones and dispositions, no call is
placed outside the local window or above a cap (COMPLIANCE C1-C3), and strategies cannot loosen them."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from campaign_fakes import borrower_row
from campaign_stack import build_stack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign.compliance import effective_window, week_start
from config.campaign_config import CampaignSettings, Strategy, StrategyBook, parse_strategy
from config.errors import ConfigError
from config.toml_reader import Table

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney", "America/Santiago",
         "Asia/Kolkata", "Pacific/Chatham"]
DISPOSITIONS = ["answered", "busy", "no_answer", "rejected", "trunk_error", "canceled"]
OUTCOMES = ["refused", "hung_up", "no_response", "third_party", "callback"]


@st.composite
def strategies_within_law(draw: st.DrawFn) -> Strategy:
    start = draw(st.integers(8 * 60, 20 * 60))
    end = draw(st.integers(start + 30, 22 * 60))
    per_day = draw(st.integers(1, 8))
    return Strategy(
        name="prop", window_start=dt.time(start // 60, start % 60), window_end=dt.time(end // 60, end % 60),
        max_unanswered_per_number_per_day=draw(st.integers(1, 6)), max_attempts_per_borrower_per_day=per_day,
        max_attempts_per_borrower_per_week=draw(st.integers(per_day, 20)), max_attempts_total=1000,
        retry_seconds={d: draw(st.sampled_from([60.0, 300.0, 1800.0])) for d in DISPOSITIONS + OUTCOMES},
        default_retry_seconds=600.0, trunk_error_max_seconds=600.0,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    strategy=strategies_within_law(),
    zones=st.lists(st.sampled_from([*ZONES, None]), min_size=1, max_size=3),
    start=st.integers(int(dt.datetime(2026, 1, 1).timestamp()), int(dt.datetime(2027, 12, 31).timestamp())),
    plan=st.lists(st.sampled_from(DISPOSITIONS + OUTCOMES), min_size=1, max_size=12),
)
def test_no_call_outside_window_or_above_caps(
    strategy: Strategy, zones: list[str | None], start: int, plan: list[str]
) -> None:
    """Scheduler over ~3 simulated days with random dispositions never dials outside C1 or above C2/C3."""
    book = StrategyBook(Path("prop.toml"), {"prop": strategy}, "prop")
    with tempfile.TemporaryDirectory() as tmp:
        s = build_stack(Path(tmp) / "p.db", start=float(start), strategies=book,
                        settings=CampaignSettings(tick_seconds=300, timezone="Asia/Shanghai"))
        step = iter(range(10**6))

        def script(target: str, n: int) -> str:
            kind = plan[next(step) % len(plan)]
            return "answered" if kind in OUTCOMES else kind

        s.placer.script = script
        s.placer.ring_s = 20
        s.runner.talk_s = 40
        s.runner.outcome = lambda b: {"disposition": plan[len(s.runner.runs) % len(plan)] if plan[
            len(s.runner.runs) % len(plan)] in OUTCOMES else "refused",
            "callback_at": dt.datetime.fromtimestamp(s.clock.seconds() + 3600 * 7).isoformat()}
        c = s.service.create_campaign("prop", strategy="prop", timezone="Asia/Shanghai")
        rows = []
        for i, zone in enumerate(zones):
            row = borrower_row(i)
            if zone is None:
                del row["timezone"]
            else:
                row["timezone"] = zone
            rows.append(row)
        s.service.import_records(c.id, rows)
        s.scheduler.start()
        s.service.start(c.id)
        for _ in range(3 * 24 * 12):
            s.clock.advance(300)
        assert s.store.attempts(c.id), "three days always contain an open window"
        for i, zone_name in enumerate(zones):
            known = zone_name is not None
            borrower_zone = ZoneInfo(zone_name or "Asia/Shanghai")
            window = effective_window(strategy, known)
            phone = f"+86138001{30000 + i:05d}"
            attempts = [a for a in s.store.attempts(c.id) if a["borrower_id"] == f"B{i:03d}"]
            per_day: Counter[dt.date] = Counter()
            unanswered: Counter[dt.date] = Counter()
            for a in attempts:
                local = dt.datetime.fromtimestamp(a["started_at"], borrower_zone)
                assert window.contains(local), f"dial at {local} outside {window}"
                assert dt.time(8, 0) <= local.time() < dt.time(22, 0)
                per_day[local.date()] += 1
                if a["phone"] == phone and a["disposition"] != "answered":
                    unanswered[local.date()] += 1
                since = week_start(a["started_at"], borrower_zone)
                in_week = [b for b in attempts if since <= b["started_at"] <= a["started_at"]]
                assert len(in_week) <= strategy.max_attempts_per_borrower_per_week
            assert all(n <= strategy.max_attempts_per_borrower_per_day for n in per_day.values())
            assert all(n <= min(strategy.max_unanswered_per_number_per_day, 6) for n in unanswered.values())
        s.scheduler.stop()
        s.store.close()


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 23 * 60 + 59), end=st.integers(0, 23 * 60 + 59), per_number=st.integers(1, 20),
    per_day=st.integers(1, 60), per_week=st.integers(1, 400),
)
def test_strategy_loader_refuses_anything_beyond_legal_bounds(
    start: int, end: int, per_number: int, per_day: int, per_week: int
) -> None:
    """A strategy table loads only if its window is inside 08:00-22:00 and its caps inside C2/C3."""
    data = {
        "window_start": f"{start // 60:02d}:{start % 60:02d}", "window_end": f"{end // 60:02d}:{end % 60:02d}",
        "max_unanswered_per_number_per_day": per_number, "max_attempts_per_borrower_per_day": per_day,
        "max_attempts_per_borrower_per_week": per_week,
    }
    legal = (8 * 60 <= start < end <= 22 * 60 and per_number <= 6 and per_day <= 50 and per_day <= per_week <= 350)
    table = Table(data, Path("strategies.toml"), "strategies.x")
    if legal:
        parsed = parse_strategy("x", table)
        assert parsed.max_unanswered_per_number_per_day == per_number
    else:
        with pytest.raises(ConfigError):
            parse_strategy("x", table)


def test_config_error_names_the_rule() -> None:
    """A window reaching 22:30 is refused with the key and the rule C1 in the message."""
    table = Table({"window_end": "22:30"}, Path("strategies.toml"), "strategies.late")
    with pytest.raises(ConfigError, match=r"strategies\.late\.window_end.*C1"):
        parse_strategy("late", table)

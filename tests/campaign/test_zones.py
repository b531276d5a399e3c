"""C1 across zones: a borrower without a timezone is called in its number's zone(s), never the campaign's."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import StackFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.compliance import CallWindow, ComplianceGate, next_common_open
from campaign.zones import number_zones
from config.campaign_config import load_strategies

RUSSIAN_MOBILE = "+79161234567"  # libphonenumber: 16 zones from Europe/Bucharest to Asia/Kamchatka


def test_number_zones_come_from_the_country() -> None:
    """+86 -> Asia/Shanghai alone; a Russian mobile has many zones; garbage has none."""
    assert number_zones("+8613800138000") == ("Asia/Shanghai",)
    assert len(number_zones(RUSSIAN_MOBILE)) > 5 and "Europe/Moscow" in number_zones(RUSSIAN_MOBILE)
    assert number_zones("not a number") == ()


def test_dubai_campaign_does_not_call_beijing_number_at_2158(stack_factory: StackFactory) -> None:
    """The reported case: campaign in Asia/Dubai, +86 borrower without zone, 21:58 Beijing -> C1, next 08:30 Beijing."""
    s = stack_factory(start=at_local(2026, 11, 30, 21, 58))  # 17:58 in Dubai, inside any Dubai window
    c = s.service.create_campaign("dubai", timezone="Asia/Dubai")
    row = borrower_row(1)
    del row["timezone"]
    s.service.import_records(c.id, [row])
    result = s.service.call_now(c.id, "B001")
    assert s.placer.dials == []
    assert getattr(result, "rule", None) == "C1" and "Asia/Shanghai" in result.reason
    retry = dt.datetime.fromtimestamp(result.retry_at or 0, ZoneInfo("Asia/Shanghai"))
    assert (retry.date(), retry.time()) == (dt.date(2026, 12, 1), dt.time(8, 30))
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 600, step=10)
    assert s.placer.dials == []  # the scheduler asks the same gate


def test_unknown_zone_keeps_the_stricter_window_in_the_numbers_zone(stack_factory: StackFactory) -> None:
    """A zone taken from the number is not 'known': 21:30 Beijing is refused though the strategy allows 21:30."""
    book = load_strategies()
    gate = ComplianceGate(stack_factory().store, "Asia/Dubai")
    late = next(st for st in book.strategies.values() if st.window_end > dt.time(21, 30))
    now = at_local(2026, 11, 30, 21, 30)
    assert gate.check(borrower_id="B", phone="+8613800138000", valid_contact=True, timezone="Asia/Shanghai",
                      campaign_timezone="Asia/Dubai", strategy=late, now=now) is None
    refusal = gate.check(borrower_id="B", phone="+8613800138000", valid_contact=True, timezone=None,
                         campaign_timezone="Asia/Dubai", strategy=late, now=now)
    assert refusal is not None and refusal.rule == "C1"


def test_several_zones_need_the_window_open_in_all() -> None:
    """A Russian number at 12:00 Moscow (21:00 Kamchatka) is refused; the retry is inside the window in every zone."""
    import tempfile
    from pathlib import Path

    from campaign.store import SqliteStore

    book = load_strategies()
    strategy = book.get("standard")
    with tempfile.TemporaryDirectory() as tmp:
        gate = ComplianceGate(SqliteStore(Path(tmp) / "z.db"), "Europe/Moscow")
        now = at_local(2026, 11, 30, 12, 0, zone="Europe/Moscow")
        refusal = gate.check(borrower_id="R", phone=RUSSIAN_MOBILE, valid_contact=True, timezone=None,
                             campaign_timezone="Europe/Moscow", strategy=strategy, now=now)
        assert refusal is not None and refusal.rule == "C1" and refusal.retry_at is not None
        zones = [ZoneInfo(z) for z in number_zones(RUSSIAN_MOBILE)]
        for zone in zones:
            local = dt.datetime.fromtimestamp(refusal.retry_at, zone).time()
            assert dt.time(8, 30) <= local < dt.time(21, 0), zone.key
        assert gate.check(borrower_id="R", phone=RUSSIAN_MOBILE, valid_contact=True, timezone=None,
                          campaign_timezone="Europe/Moscow", strategy=strategy, now=refusal.retry_at) is None
        gate.store.close()


def test_common_window_of_zones_too_far_apart_is_none() -> None:
    """Zones 8 hours apart round the clock share no moment of a 13-hour window: no retry time is invented."""
    zones = (ZoneInfo("Europe/London"), ZoneInfo("Asia/Shanghai"), ZoneInfo("America/Los_Angeles"))
    window = CallWindow(dt.time(8, 0), dt.time(21, 0))
    assert next_common_open(at_local(2026, 11, 30, 12, 0), zones, window) is None
    assert next_common_open(at_local(2026, 11, 30, 12, 0), zones[:1], window) is not None


def test_import_warns_when_numbers_are_in_another_zone(stack_factory: StackFactory) -> None:
    """Importing +86 numbers into an Asia/Dubai campaign warns once with the count; Asia/Shanghai does not."""
    s = stack_factory()
    dubai = s.service.create_campaign("dubai", timezone="Asia/Dubai")
    report = s.service.import_records(dubai.id, [borrower_row(i) for i in range(3)])
    assert len(report.warnings) == 1 and report.warnings[0].startswith("3 borrower(s)")
    assert "Asia/Shanghai" in report.warnings[0] and "Asia/Dubai" in report.warnings[0]
    assert report.to_dict()["warnings"] == list(report.warnings)
    shanghai = s.service.create_campaign("home", timezone="Asia/Shanghai")
    assert s.service.import_records(shanghai.id, [borrower_row(i) for i in range(3)]).warnings == ()


@settings(max_examples=60, deadline=None)
@given(minute=st.integers(0, 14 * 24 * 60 - 1),
       phone=st.sampled_from(["+8613800138000", RUSSIAN_MOBILE, "+61412345678", "+12125551234", "+971501234567"]),
       campaign_zone=st.sampled_from(["Asia/Dubai", "Asia/Shanghai", "America/New_York"]))
def test_gate_never_allows_a_moment_outside_any_of_the_numbers_zones(
    minute: int, phone: str, campaign_zone: str,
) -> None:
    """For a borrower without zone: allowed -> inside 08:30-21:00 in every zone of the number; refused -> retry is."""
    import tempfile
    from pathlib import Path

    from campaign.store import SqliteStore

    strategy = load_strategies().get("standard")
    now = at_local(2026, 3, 20, 0, 0, zone="UTC") + minute * 60  # spans the US and EU DST changes
    zones = [ZoneInfo(z) for z in number_zones(phone)]
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "p.db")
        gate = ComplianceGate(store, campaign_zone)
        refusal = gate.check(borrower_id="P", phone=phone, valid_contact=True, timezone=None,
                             campaign_timezone=campaign_zone, strategy=strategy, now=now)
        store.close()

    def inside(at: float) -> bool:
        return all(dt.time(8, 30) <= dt.datetime.fromtimestamp(at, z).time() < dt.time(21, 0) for z in zones)

    if refusal is None:
        assert inside(now)
    else:
        assert refusal.rule == "C1" and not inside(now)
        assert refusal.retry_at is not None and refusal.retry_at > now and inside(refusal.retry_at)

"""Scheduler + dialer against fake call seams on a Clock: pacing, states, follow-ups, refusals."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import StackFactory

from config.server_config import TrunkSettings


def test_campaign_runs_to_finished_and_stores_every_call(stack_factory: StackFactory) -> None:
    """A campaign of answered calls ending in promises dials each borrower once and finishes."""
    s = stack_factory()
    s.runner.outcome = lambda b: {"disposition": "already_paid"}
    c = s.service.create_campaign("november")
    report = s.service.import_records(c.id, [borrower_row(i) for i in range(6)])
    assert report.inserted == 6 and not report.errors
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 120)
    assert s.store.get_campaign(c.id).state == "finished"
    assert len(s.placer.dials) == 6
    progress = s.service.progress(c.id).to_dict()
    assert progress["outcomes"] == {"already_paid": 6}
    assert progress["dispositions"] == {"answered": 6}
    assert progress["borrowers_by_status"] == {"stopped": 6}
    calls = s.store.list_calls(c.id)
    assert len(calls) == 6
    assert s.store.get_call(calls[0]["call_id"])["turns"][0]["node"] == "opening"


def test_pacing_caps_concurrent_calls_per_campaign_and_trunk(stack_factory: StackFactory) -> None:
    """No more calls are live at once than the smaller of the campaign and trunk limits."""
    trunk = TrunkSettings(name="t1", proxy="sip:127.0.0.1:5060", max_concurrent_calls=2, calls_per_second=1.0)
    s = stack_factory(trunks=(trunk,))
    s.runner.talk_s = 20
    c = s.service.create_campaign("paced", trunk="t1", max_concurrent_calls=3, calls_per_second=10)
    s.service.import_records(c.id, [borrower_row(i) for i in range(8)])
    s.scheduler.start()
    s.service.start(c.id)
    peak = 0
    for _ in range(200):
        s.clock.advance(1)
        peak = max(peak, s.dialer.in_flight(c.id))
    assert peak == 2
    assert all(tr == "t1" for _t, _n, tr in s.placer.dials)
    times = sorted(t for t, _n, _tr in s.placer.dials)
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times))  # 1 call/s on the trunk


def test_pause_stops_new_dials_and_lets_live_calls_finish(stack_factory: StackFactory) -> None:
    """After pause no INVITE leaves, calls already live still complete and are stored."""
    s = stack_factory()
    s.runner.talk_s = 30
    c = s.service.create_campaign("pausable", max_concurrent_calls=2)
    s.service.import_records(c.id, [borrower_row(i) for i in range(6)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 8)
    live = s.dialer.in_flight(c.id)
    assert live == 2
    dials_before = len(s.placer.dials)
    s.service.pause(c.id)
    run_for(s.clock, 120)
    assert len(s.placer.dials) == dials_before
    assert s.dialer.in_flight(c.id) == 0
    assert s.store.progress(c.id)["attempts_pending"] == 0
    assert len(s.store.list_calls(c.id)) == live
    s.service.resume(c.id)
    run_for(s.clock, 200)
    assert len(s.store.list_calls(c.id)) == 6


def test_busy_retry_spacing_and_trunk_error_backoff(stack_factory: StackFactory) -> None:
    """Busy retries after the strategy's 10 min; trunk errors back off 1, 2, 4 minutes."""
    s = stack_factory()
    s.placer.ring_s = 1
    s.placer.script = lambda target, n: "busy" if target.endswith("0000") else "trunk_error"
    c = s.service.create_campaign("retries", strategy="standard")
    s.service.import_records(c.id, [borrower_row(0), borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 3600, step=5)
    busy = [t for t, n, _ in s.placer.dials if n.endswith("0000")]
    trunk = [t for t, n, _ in s.placer.dials if n.endswith("0001")]
    assert len(busy) == 3  # C3 daily cap of the strategy stops the fourth
    assert all(600 <= b - a <= 610 for a, b in itertools.pairwise(busy))
    gaps = [b - a for a, b in itertools.pairwise(trunk)]
    assert 60 <= gaps[0] <= 70 and 120 <= gaps[1] <= 130
    assert {r["rule"] for r in s.store.refusals(c.id)} <= {"C2", "C3"}


def test_promise_to_pay_gets_a_reminder_the_day_before_the_promised_date(stack_factory: StackFactory) -> None:
    """A promise for 12-02 under 'standard' (ptp_reminder_days_before = 1) schedules a reminder on 12-01."""
    s = stack_factory()
    s.runner.outcome = lambda b: {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 1000.0}
    c = s.service.create_campaign("ptp")
    s.service.import_records(c.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    b = s.store.get_borrower(c.id, "B001")
    assert b.next_reason == "ptp_reminder"
    assert b.next_due_at == at_local(2026, 12, 1, 8, 30)  # 'standard' window opens 08:30
    assert s.service.progress(c.id).to_dict()["promised_amount"] == 1000.0


def test_complaint_queues_for_review_and_opt_out_blocks_the_number(stack_factory: StackFactory) -> None:
    """Complaint -> review, no more calls; opt-out -> number on DNC and even 'call now' is refused (C7)."""
    s = stack_factory()
    s.runner.outcome = lambda b: {
        "disposition": "complaint" if b.id == "B001" else "opt_out", "opt_out": b.id == "B002"}
    c = s.service.create_campaign("stops")
    s.service.import_records(c.id, [borrower_row(1), borrower_row(2)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 120)
    assert s.store.get_borrower(c.id, "B001").status == "review"
    assert s.store.get_borrower(c.id, "B002").status == "stopped"
    assert s.store.is_opted_out("+8613800130002")
    c2 = s.service.create_campaign("again")
    s.service.import_records(c2.id, [borrower_row(2)])
    refusal = s.service.call_now(c2.id, "B002", actor="op1")
    assert getattr(refusal, "rule", None) == "C7"
    assert [r["rule"] for r in s.store.refusals(c2.id)] == ["C7"]
    assert any(a["action"] == "call_now" and a["actor"] == "op1" for a in s.store.audit_log(c2.id))


def test_callback_outside_window_is_refused_and_deferred(stack_factory: StackFactory) -> None:
    """A callback asked for 23:00 local is moved to next morning's window when planned, so C1 never has to refuse it."""
    s = stack_factory()
    s.runner.outcome = lambda b: {"disposition": "callback", "callback_at": "2026-11-30T23:00:00+08:00"}
    c = s.service.create_campaign("cb")
    s.service.import_records(c.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 14 * 3600, step=30)
    times = [t for t, _n, _ in s.placer.dials]
    zone = ZoneInfo("Asia/Shanghai")
    assert len(times) == 1
    assert s.store.refusals(c.id) == []
    b = s.store.get_borrower(c.id, "B001")
    assert b.next_due_at == at_local(2026, 12, 1, 8, 30) and b.next_reason == "callback"
    assert dt.datetime.fromtimestamp(times[0], zone).hour == 10


def test_manual_call_now_at_night_is_refused_with_c1(stack_factory: StackFactory) -> None:
    """An operator's 'call now' at 22:30 local time does not dial and stores a C1 refusal."""
    s = stack_factory(start=at_local(2026, 11, 30, 22, 30))
    c = s.service.create_campaign("night")
    s.service.import_records(c.id, [borrower_row(1)])
    refusal = s.service.call_now(c.id, "B001", actor="op")
    assert getattr(refusal, "rule", None) == "C1"
    assert s.placer.dials == []


def test_wrong_number_moves_to_the_next_contact(stack_factory: StackFactory) -> None:
    """A wrong number is never dialled again for that borrower; the alternative number is used."""
    s = stack_factory()
    s.runner.outcome = lambda b: {"disposition": "wrong_number"}
    c = s.service.create_campaign("alt")
    s.service.import_records(c.id, [borrower_row(1, alt_phones="13900139000")])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 300)
    numbers = [n for _t, n, _ in s.placer.dials]
    assert numbers == ["+8613800130001", "+8613900139000"]
    assert s.store.get_borrower(c.id, "B001").stop_reason == "wrong_number"
    assert not any(ct.valid for ct in s.store.contacts(c.id, "B001"))


def test_higher_priority_borrowers_are_dialled_first(stack_factory: StackFactory) -> None:
    """With one line, borrowers are dialled by priority: more overdue days and amount first."""
    s = stack_factory()
    s.runner.talk_s = 5
    s.runner.outcome = lambda b: {"disposition": "already_paid"}
    c = s.service.create_campaign("prio", max_concurrent_calls=1, strategy="standard")
    rows = [borrower_row(1, overdue_days=3), borrower_row(2, overdue_days=25, amount_due=9000.0),
            borrower_row(3, overdue_days=25)]
    s.service.import_records(c.id, rows)
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 120)
    assert [n[-4:] for _t, n, _tr in s.placer.dials] == ["0002", "0003", "0001"]


def test_a_failing_session_is_stored_as_answered_and_retried(stack_factory: StackFactory) -> None:
    """A session that raises still leaves a stored answered call (hung up by the bot) and a retry."""
    s = stack_factory()

    def explode(b: object) -> dict[str, object]:
        raise RuntimeError("recognizer crashed")

    s.runner.outcome = explode
    c = s.service.create_campaign("crashy")
    s.service.import_records(c.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    calls = s.store.list_calls(c.id)
    assert [(x["disposition"], x["outcome"]) for x in calls] == [("answered", None)]
    assert "recognizer crashed" in s.store.get_call(calls[0]["call_id"])["record"]["end_reason"]
    assert s.store.get_borrower(c.id, "B001").next_reason == "retry"


def test_progress_counts_attempts_left_under_the_daily_caps(stack_factory: StackFactory) -> None:
    """attempts_left_today = daily cap x active borrowers minus today's local-day attempts; settled ones add none."""
    s = stack_factory()
    s.placer.script = lambda target, n: "busy"
    s.runner.outcome = lambda b: {"disposition": "already_paid"}
    c = s.service.create_campaign("left", strategy="standard")  # 3 a day per borrower
    s.service.import_records(c.id, [borrower_row(1), borrower_row(2), borrower_row(3, timezone="Asia/Urumqi")])
    assert s.service.progress(c.id).attempts_left == 9
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 30)
    # 10:00 in Shanghai is 08:00 in Urumqi, before the 08:30 window: B003 is refused (C1), not dialled
    assert s.service.progress(c.id).attempts_left == 7
    assert [r["borrower_id"] for r in s.store.refusals(c.id)] == ["B003"]
    s.placer.script = lambda target, n: "answered"
    run_for(s.clock, 700, step=5)  # busy retry after 10 min; now answered -> paid -> stopped
    assert s.store.get_borrower(c.id, "B001").status == "stopped"
    assert s.service.progress(c.id).attempts_left == 3

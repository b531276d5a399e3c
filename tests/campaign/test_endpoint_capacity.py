"""The SIP endpoint's call slots as a pacing limit, and dials it refuses locally never counted as attempts."""

from __future__ import annotations

import logging

import pytest
from campaign_fakes import borrower_row, run_for
from campaign_stack import StackFactory

from config.server_config import TrunkSettings

WIDE_TRUNK = TrunkSettings(name="wide", proxy="sip:127.0.0.1:5060", max_concurrent_calls=10, calls_per_second=10.0)


def test_pacer_never_dials_beyond_the_endpoint_slots(stack_factory: StackFactory) -> None:
    """Trunk and campaign allow 10 calls, the endpoint carries 4: at most 4 are live and none is refused."""
    s = stack_factory(trunks=(WIDE_TRUNK,), slots=4)
    s.runner.talk_s = 20
    s.runner.outcome = lambda b: {"disposition": "already_paid"}
    c = s.service.create_campaign("wide", trunk="wide", max_concurrent_calls=10, calls_per_second=10)
    s.service.import_records(c.id, [borrower_row(i) for i in range(10)])
    s.scheduler.start()
    s.service.start(c.id)
    peak = 0
    for _ in range(300):
        s.clock.advance(0.5)
        peak = max(peak, s.dialer.in_flight(c.id))
    assert peak == 4
    assert s.placer.refused == 0
    assert len(s.placer.dials) == 10 and len(s.store.attempts(c.id)) == 10
    assert s.store.get_campaign(c.id).state == "finished"


def test_endpoint_busy_withdraws_the_attempt_and_requeues_the_borrower(stack_factory: StackFactory) -> None:
    """A dial the endpoint refuses before any SIP leaves is not stored, not counted for C2/C3, and redialled later."""
    s = stack_factory(trunks=(WIDE_TRUNK,), slots=4)
    s.scheduler.pacer.capacity = None  # the pacer cannot see the slots (e.g. a slot pjsua still holds)
    s.runner.talk_s = 20
    c = s.service.create_campaign("blind", trunk="wide", max_concurrent_calls=10, calls_per_second=10)
    s.service.import_records(c.id, [borrower_row(i) for i in range(6)])
    s.scheduler.start()
    s.service.start(c.id)
    s.clock.advance(1.0)
    assert s.placer.refused >= 2 and len(s.placer.dials) == 4
    attempts = s.store.attempts(c.id)
    assert len(attempts) == 4 and {a["state"] for a in attempts} == {"pending"}
    dialled = {a["borrower_id"] for a in attempts}
    waiting = [b for b in s.store.list_borrowers(c.id) if b.borrower_id not in dialled]
    assert len(waiting) == 2
    for b in waiting:
        assert b.attempts_total == 0 and b.next_due_at is not None and b.next_reason == "scheduled"
        assert s.store.count_attempts_to_borrower(b.borrower_id, 0, s.clock.seconds() + 1) == 0
        phone = s.store.contacts(c.id, b.borrower_id)[0].phone
        assert s.store.count_unanswered_to_number(phone, 0, s.clock.seconds() + 1) == 0
    assert s.metrics.render().count("voicebot_dials_withdrawn_total") >= 1
    run_for(s.clock, 120)
    attempts = s.store.attempts(c.id)
    assert len(attempts) == 6 and sorted(a["borrower_id"] for a in attempts) == sorted(f"B{i:03d}" for i in range(6))
    assert {a["disposition"] for a in attempts} == {"answered"}  # no trunk_error from a local refusal
    assert all(b.attempts_total == 1 for b in s.store.list_borrowers(c.id))


def test_withdraw_leaves_a_finished_attempt_alone(stack_factory: StackFactory) -> None:
    """Only a pending attempt can be withdrawn: a completed one stays stored and counted."""
    s = stack_factory()
    s.runner.talk_s = 5
    c = s.service.create_campaign("done")
    s.service.import_records(c.id, [borrower_row(0)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 30)
    [attempt] = s.store.attempts(c.id)
    assert attempt["state"] == "completed"
    assert s.store.withdraw_attempt(attempt["id"], s.clock.seconds(), "scheduled") is False
    assert len(s.store.attempts(c.id)) == 1
    assert s.store.get_borrower(c.id, "B000").attempts_total == 1


def test_call_now_with_every_slot_busy_is_refused_without_a_record(stack_factory: StackFactory) -> None:
    """An operator's 'call now' while the endpoint is full is refused (ENDPOINT_BUSY); no attempt, no refusal row."""
    s = stack_factory(slots=1)
    s.runner.talk_s = 60
    c = s.service.create_campaign("manual", max_concurrent_calls=5)
    s.service.import_records(c.id, [borrower_row(0), borrower_row(1)])
    first = s.service.call_now(c.id, "B000", actor="op")
    assert not hasattr(first, "rule")
    second = s.service.call_now(c.id, "B001", actor="op")
    assert getattr(second, "rule", None) == "ENDPOINT_BUSY"
    assert [a["borrower_id"] for a in s.store.attempts(c.id)] == ["B000"]
    assert s.store.refusals(c.id) == []
    assert len(s.placer.dials) == 1


def test_start_warns_about_trunks_above_the_endpoint_capacity(
    stack_factory: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A trunk configured for 10 calls on a 4-slot endpoint is named in a warning with the effective limit."""
    narrow = TrunkSettings(name="narrow", proxy="sip:127.0.0.1:5061", max_concurrent_calls=3)
    s = stack_factory(trunks=(WIDE_TRUNK, narrow), slots=4)
    with caplog.at_level(logging.WARNING, logger="campaign.scheduler"):
        s.scheduler.start()
    warnings = [r for r in caplog.records if r.getMessage() == "campaign.trunk_over_capacity"]
    assert len(warnings) == 1
    fields = warnings[0].event_fields  # type: ignore[attr-defined]
    assert fields["trunk"] == "wide" and fields["effective"] == 4 and fields["configured"] == 10
    assert "'wide'" in fields["reason"] and "at most 4" in fields["reason"]


def test_dialer_sends_the_campaigns_caller_id(stack_factory: StackFactory) -> None:
    """A campaign with its own caller ID dials with it; one without leaves the trunk's (None)."""
    s = stack_factory()
    s.runner.talk_s = 5
    own = s.service.create_campaign("own number", caller_id="95533001")
    plain = s.service.create_campaign("trunk number")
    s.service.import_records(own.id, [borrower_row(0)])
    s.service.import_records(plain.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(own.id)
    s.clock.advance(1)
    s.service.start(plain.id)
    s.clock.advance(1)
    assert s.placer.caller_ids == ["95533001", None]


def test_unusable_caller_id_is_refused_at_campaign_creation(stack_factory: StackFactory) -> None:
    """A caller ID that cannot be a SIP From user is refused with the field named, and no campaign is stored."""
    s = stack_factory()
    with pytest.raises(ValueError, match="caller_id"):
        s.service.create_campaign("typo", caller_id="955 330 01")
    assert s.store.list_campaigns() == []

"""Outcomes that hold (issue 12): a call cut short keeps the strongest fact the borrower stated.

Per script set hang-up points along a promise, a precedence test for every pair of facts, conversations
where two facts clash, and a property test cutting random conversations at a random turn.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from dialogue_fakes import TODAY, ScriptedClassifier, converse, make_borrower, scripted_slots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import CONFIG, LIBRARY, SETS, events

from dialogue.manager import DialogueManager, PlayPrompt
from dialogue.outcome import PRECEDENCE
from dialogue.scripts import ScriptLibrary

FON = "first_overdue_notice"
PROMISE = "promise_to_pay date=2026-12-05 amount=1000"


def _manager(set_id: str) -> DialogueManager:
    return DialogueManager(LIBRARY, ScriptedClassifier(), TODAY, script_set=set_id, config=CONFIG,
                           slot_extractor=scripted_slots)


def _to_notice(manager: DialogueManager) -> list[str]:
    """Say yes until identity is confirmed and the bot waits at a question that listens for a promise."""
    said: list[str] = []
    manager.start(make_borrower())
    while not (manager.identity_confirmed and manager._waiting is not None and "ptp_date" in manager._waiting.capture):
        assert not manager.ended and len(said) < 4, manager.path
        manager.on_utterance("affirm")
        said.append("affirm")
    return said


@pytest.mark.parametrize("set_id", [s for s in SETS if s != "mediation_notice"])  # a notice asks for no promise
def test_each_hang_up_point_along_a_promise_keeps_the_right_outcome(set_id: str) -> None:
    """Every collection set: hung_up before a promise, unconfirmed promise once stated, confirmed after the yes."""
    cut_before = _manager(set_id)
    _to_notice(cut_before)
    before = cut_before.on_hangup()
    assert (before.disposition, before.ptp_date, before.confirmed) == ("hung_up", None, False)

    cut_after = _manager(set_id)
    _to_notice(cut_after)
    action = cut_after.on_utterance(PROMISE)
    assert isinstance(action, PlayPrompt) and action.prompt.node.startswith("promise_capture/"), action
    stated = cut_after.on_hangup()
    assert (stated.disposition, stated.ptp_date, stated.ptp_amount, stated.confirmed, stated.completed) == (
        "promise_to_pay", dt.date(2026, 12, 5), 1000.0, False, False)

    confirmed = _manager(set_id)
    _to_notice(confirmed)
    confirmed.on_utterance(PROMISE)
    confirmed.on_utterance("affirm")
    assert confirmed.ended
    done = confirmed.on_hangup()
    assert (done.disposition, done.confirmed, done.completed) == ("promise_to_pay", True, True)


@pytest.mark.parametrize(("stronger", "weaker"), list(itertools.combinations(PRECEDENCE, 2)))
def test_precedence_for_every_pair_of_facts(stronger: str, weaker: str) -> None:
    """With two facts learned (in either order) a call cut short takes the one written first in PRECEDENCE."""
    for order in ((stronger, weaker), (weaker, stronger)):
        manager = _manager(FON)
        _to_notice(manager)
        for fact in order:
            if fact == "promise_to_pay":
                manager.on_utterance(PROMISE)
            else:
                manager.facts.add(fact)
        outcome = manager.on_hangup()
        assert outcome.disposition == stronger, (order, manager.path)
        field = {"promise_to_pay": "promised", "callback": "callback_requested"}.get(weaker, weaker)
        assert getattr(outcome, field) is True, (order, weaker)


CLASHES = [
    # turns, disposition when the call is cut after them, fields that must still be set
    ([PROMISE, "already_paid"], "promise_to_pay", {"already_paid": True, "verified": False}),
    (["hardship", "other amount=500"], "promise_to_pay", {"hardship": True, "ptp_amount": 500.0}),
    (["negotiate", PROMISE], "promise_to_pay", {"negotiation": True, "ptp_amount": 1000.0}),
    ([PROMISE, "complaint"], "complaint", {"complaint": True, "ptp_amount": 1000.0, "confirmed": False}),
    ([PROMISE, "refuse_to_pay"], "promise_to_pay", {"refused": True}),
    (["already_paid"], "already_paid", {"already_paid": True, "verified": False, "ptp_date": None}),
    (["hardship"], "hardship", {"hardship": True}),
    (["negotiate"], "negotiation", {"negotiation": True}),
    (["refuse_to_pay"], "refused", {"refused": True}),
]


@pytest.mark.parametrize(("turns", "disposition", "fields"), CLASHES, ids=[" + ".join(c[0]) for c in CLASHES])
def test_clashing_facts_in_real_conversations(turns: list[str], disposition: str, fields: dict[str, object]) -> None:
    """Conversations that state two facts, then hang up: the stronger decides, the other is still in its field."""
    manager = _manager(FON)
    _to_notice(manager)
    for turn in turns:
        assert not manager.ended, manager.path
        manager.on_utterance(turn)
    assert not manager.ended, manager.path
    outcome = manager.on_hangup().to_dict()
    assert outcome["disposition"] == disposition
    assert {k: outcome[k] for k in fields} == fields


def test_stop_calling_after_a_promise_keeps_the_promise_fields(library: ScriptLibrary) -> None:
    """An opt-out ends the call as opt_out, and the promise said before it is still in the outcome."""
    run = converse(library, FON, ["affirm", PROMISE, "stop_calling"])
    assert run.outcome.disposition == "opt_out" and run.outcome.opt_out
    assert (run.outcome.ptp_date, run.outcome.ptp_amount, run.outcome.confirmed) == (dt.date(2026, 12, 5), 1000.0,
                                                                                    False)


def test_a_date_without_an_amount_means_the_amount_due(library: ScriptLibrary) -> None:
    """'后天还' with no amount: cut short it promises the amount due, and the read-back says it is the full amount."""
    cut = _manager(FON)
    _to_notice(cut)
    cut.on_utterance("promise_to_pay date=2026-11-30")
    outcome = cut.on_hangup()
    assert (outcome.ptp_date, outcome.ptp_amount, outcome.ptp_full_amount) == (dt.date(2026, 11, 30), 3200.0, True)
    run = converse(library, FON, ["affirm", "promise_to_pay date=2026-11-30"])
    read_back = run.prompts[-1]
    assert read_back.node == "promise_capture/confirm_full", run.nodes
    assert LIBRARY.fragments["pp_confirm_full_b"] in read_back.text and "3200" in read_back.text


def test_a_refusal_with_a_date_is_not_a_promise() -> None:
    """'今天还不了' carries a date but is a refusal: cut short it is refused, with no promise fields."""
    manager = _manager(FON)
    _to_notice(manager)
    manager.on_utterance("refuse_to_pay date=2026-11-28")
    outcome = manager.on_hangup()
    assert (outcome.disposition, outcome.ptp_date, outcome.ptp_amount) == ("refused", None, None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_id=st.sampled_from(SETS), borrower_events=events, cut=st.integers(min_value=0, max_value=30))
def test_cut_at_a_random_turn_never_loses_a_promise_opt_out_or_complaint(
        set_id: str, borrower_events: list[str], cut: int) -> None:
    """Random conversations cut at a random turn: a promise, opt-out or complaint learned before the cut is stored."""
    manager = _manager(set_id)
    manager.start(make_borrower())
    promised = opted_out = complained = False
    for event in borrower_events[:cut]:
        if manager.ended:
            break
        if event == "<silence>":
            manager.on_no_input()
        elif event.startswith("<dtmf:"):
            manager.on_dtmf(event[6:-1])
        else:
            action = manager.on_utterance(event)
            opted_out |= action.intent == "stop_calling"
            complained |= action.intent == "complaint"
            # A date or amount that made the bot read a promise back (or ask for its missing part) was a promise.
            says_terms = "date=" in event or "amount=" in event
            node = action.prompt.node if isinstance(action, PlayPrompt) else ""
            promised |= says_terms and node.startswith("promise_capture/") and bool(set(manager.slots) & {
                "ptp_date", "ptp_amount"})
        promised |= "ptp_confirmed" in manager.flags
    outcome = manager.outcome or manager.on_hangup()
    if promised:
        assert outcome.ptp_amount is not None, manager.path
    if opted_out:
        assert outcome.opt_out
    if complained:
        assert outcome.complaint

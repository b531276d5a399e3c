"""Pursuit (issue 12): one polite attempt at a promise after negotiation, hardship, a vague reply or a refusal."""

from __future__ import annotations

from dialogue_fakes import TODAY, ScriptedClassifier, converse, make_borrower, scripted_slots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import CONFIG, LIBRARY, SETS, events

from dialogue.manager import DialogueManager
from dialogue.scripts import ScriptLibrary

FON = "first_overdue_notice"
PURSUIT_ASKS = {"pursuit_date/ask", "pursuit_partial/ask"}


def test_negotiation_request_gets_one_date_attempt_then_closes(library: ScriptLibrary) -> None:
    """'能不能晚点还' is recorded, then the bot asks once for a date; a no closes, recorded as negotiation."""
    run = converse(library, FON, ["affirm", "negotiate", "deny", "deny"])
    assert run.nodes[-2:] == ["pursuit_date/ask", "pursuit_date/bye"]
    assert run.outcome.disposition == "negotiation" and run.outcome.negotiation


def test_vague_reply_is_pursued_without_a_sorry(library: ScriptLibrary) -> None:
    """'我再想想' is not a misunderstanding: no 'sorry, I did not catch that', straight to one date attempt."""
    run = converse(library, FON, ["affirm", "other 我再想想"])
    assert run.nodes[-1] == "pursuit_date/ask"
    assert library.fragments["engine_sorry_again"] not in run.texts[-1]


def test_not_understood_is_re_asked_once_before_the_pursuit(library: ScriptLibrary) -> None:
    """A reply the bot did not understand still gets the one re-ask first, then the pursuit question."""
    run = converse(library, FON, ["affirm", "other", "other"])
    assert run.nodes[-2:] == ["notice_first_overdue/tell", "pursuit_date/ask"]


def test_partial_sets_ask_for_a_smaller_first_payment(library: ScriptLibrary) -> None:
    """In a set that allows partial payments the attempt is a smaller first payment, and an amount is a promise."""
    run = converse(library, "hardship_aware", ["affirm", "negotiate", "deny", "other amount=500"])
    assert "pursuit_partial/ask" in run.nodes
    assert run.nodes[-1].startswith("promise_capture/")


def test_hardship_is_offered_the_negotiation_record_and_not_pursued_again(library: ScriptLibrary) -> None:
    """Hardship hears the partial/deferral offer first; after a negotiation request there is no second attempt."""
    run = converse(library, FON, ["affirm", "hardship", "negotiate", "deny"])
    assert "hardship/ask" in run.nodes and "negotiation/record" in run.nodes
    assert not PURSUIT_ASKS & set(run.manager.path)
    assert run.outcome.disposition in ("hardship", "negotiation") and run.outcome.hardship


def test_pursuit_wording_has_no_pressure_words(library: ScriptLibrary) -> None:
    """C8: the pursuit fragments say none of the forbidden phrases and none of the consequence words."""
    for fid in ("pu_ask_date", "pu_ask_partial", "pu_bye"):
        text = library.fragments[fid]
        assert not any(p in text for p in library.compliance.forbidden), fid
        assert not any(w in text for w in ("后果", "影响", "起诉", "信用记录", "费用")), fid


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_id=st.sampled_from(SETS), borrower_events=events)
def test_at_most_one_pursuit_attempt_per_call(set_id: str, borrower_events: list[str]) -> None:
    """Random conversations: a pursuit question is asked at most once, and never after another promise attempt."""
    manager = DialogueManager(LIBRARY, ScriptedClassifier(), TODAY, script_set=set_id, config=CONFIG,
                              slot_extractor=scripted_slots)
    manager.start(make_borrower())
    for event in borrower_events:
        if event == "<silence>":
            manager.on_no_input()
        elif event.startswith("<dtmf:"):
            manager.on_dtmf(event[6:-1])
        else:
            manager.on_utterance(event)
    asks = [i for i, key in enumerate(manager.path) if key in PURSUIT_ASKS]
    assert len(asks) <= 1, manager.path
    if asks:
        earlier = manager.path[:asks[0]]
        assert not any("pursuit" in LIBRARY.node(k).flags for k in earlier), manager.path

"""Property tests over random borrower behaviour: whatever is said, the engine keeps its guarantees.

For random event sequences in every script set: no debt detail before identity confirmation (C6),
no prompt entered more than twice, the turn cap holds, the conversation always ends, and it ends with
a valid outcome consistent with what happened (opt-out, complaint, promise details).
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from dialogue_fakes import TODAY, ScriptedClassifier, make_borrower, scripted_slots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.dialogue_config import DialogueConfig
from dialogue.manager import Action, DialogueManager, Hangup, IntentSource, PlayPrompt, Transfer, Wait
from dialogue.outcome import DISPOSITIONS
from dialogue.prompt import DEBT_VARIABLES, Fragment, Prompt, Variable
from dialogue.scripts import INTENT_LABELS, ScriptLibrary, load_script_library

LIBRARY: ScriptLibrary = load_script_library()
CONFIG = DialogueConfig()
SETS = sorted(LIBRARY.script_sets)
# Fragments said by identity-confirming nodes: debt details may follow them within the same prompt.
CONFIRMING = {LIBRARY.fragment(i).id for n in LIBRARY.nodes() if n.confirms_identity for i in n.prompt}
CONFIRMING |= {s.wording.get(f, f) for s in LIBRARY.script_sets.values() for f in set(CONFIRMING)}

dates = st.one_of(st.none(), st.dates(min_value=TODAY, max_value=TODAY + dt.timedelta(days=60)))
amounts = st.one_of(st.none(), st.integers(min_value=1, max_value=9000))
utterances = st.builds(
    lambda intent, conf, date, amount: " ".join(
        [f"{intent}@{conf:.2f}"] + ([f"date={date}"] if date else []) + ([f"amount={amount}"] if amount else [])
    ),
    st.sampled_from(INTENT_LABELS), st.floats(min_value=0.0, max_value=1.0), dates, amounts,
)
events = st.lists(
    st.one_of(utterances, utterances, utterances, st.just("<silence>"), st.sampled_from(["<dtmf:0>", "<dtmf:1>",
                                                                                       "<dtmf:*>", "<dtmf:5>"])),
    min_size=0, max_size=30,
)
borrowers = st.builds(
    lambda days, tier, score, gender: make_borrower(overdue_days=days, value_tier=tier, risk_score=score,
                                                    gender=gender, due_date=str(TODAY - dt.timedelta(days=days))),
    st.integers(min_value=0, max_value=200), st.sampled_from(["high", "normal"]),
    st.integers(min_value=0, max_value=1000), st.sampled_from(["male", "female", "unknown"]),
)


def _prompt(action: Action) -> Prompt | None:
    return action.prompt if isinstance(action, PlayPrompt | Hangup | Transfer) else None


def _assert_no_early_disclosure(prompt: Prompt, confirmed_before: bool) -> None:
    confirmed = confirmed_before
    for part in prompt.parts:
        if isinstance(part, Fragment) and part.id in CONFIRMING:
            confirmed = True
        if confirmed:
            continue
        if isinstance(part, Variable):
            assert part.name not in DEBT_VARIABLES, f"{{{part.name}}} before identity in {prompt.node}"
        else:
            assert not any(w in part.text for w in LIBRARY.compliance.debt_words), f"{part.id} before identity"


def _play(manager: DialogueManager, borrower_events: list[str]) -> list[Action]:
    actions = [manager.start(make_borrower())] if manager.borrower is None else []
    for event in borrower_events:
        confirmed_before = manager.identity_confirmed
        if event == "<silence>":
            action = manager.on_no_input()
        elif event.startswith("<dtmf:"):
            action = manager.on_dtmf(event[6:-1])
        else:
            action = manager.on_utterance(event)
        prompt = _prompt(action)
        if prompt is not None:
            _assert_no_early_disclosure(prompt, confirmed_before)
        actions.append(action)
    return actions


def _check_outcome(manager: DialogueManager, actions: list[Action], acted_on: set[str]) -> None:
    outcome = manager.outcome
    assert outcome is not None
    assert outcome.disposition in DISPOSITIONS
    assert outcome.turns <= CONFIG.max_turns
    assert outcome.identity_confirmed == manager.identity_confirmed
    if outcome.disposition == "promise_to_pay":
        assert outcome.ptp_amount is not None and outcome.identity_confirmed
    if outcome.confirmed:
        assert outcome.ptp_date is not None and outcome.ptp_amount is not None
    if "stop_calling" in acted_on:
        assert outcome.opt_out
    if "complaint" in acted_on:
        assert outcome.complaint
    assert max(manager._visits.values(), default=0) <= CONFIG.max_node_visits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_id=st.sampled_from(SETS), borrower=borrowers, borrower_events=events, agent=st.booleans())
def test_random_conversations_keep_every_guarantee(set_id: str, borrower: object, borrower_events: list[str],
                                                   agent: bool) -> None:
    """Random intents, confidences, slots, silences and keys, with or without an agent: C6, C9 and the caps hold."""
    manager = DialogueManager(LIBRARY, ScriptedClassifier(), TODAY, script_set=set_id, config=CONFIG,
                              slot_extractor=scripted_slots, agent_available=agent)
    first = manager.start(borrower)  # type: ignore[arg-type]
    assert isinstance(first, PlayPrompt)
    _assert_no_early_disclosure(first.prompt, False)
    actions = [first, *_play(manager, borrower_events)]
    acted_on = {a.intent for a in actions if a.intent is not None}
    ended_early = manager.ended
    outcome = manager.outcome or manager.on_hangup()
    if not ended_early:
        assert outcome.disposition == (manager.strongest_fact() or "hung_up") and not outcome.completed
    _check_outcome(manager, actions, acted_on)
    if not agent:  # C9: with no agent reachable nothing may transfer or say it is transferring
        assert not any(isinstance(a, Transfer) for a in actions)
        transferring = LIBRARY.fragments["ag_transfer"]
        assert not any(transferring in p.text for a in actions if (p := _prompt(a)) is not None)
    end_at = next((i for i, a in enumerate(actions) if isinstance(a, Hangup | Transfer)), len(actions))
    assert all(isinstance(a, Wait) for a in actions[end_at + 1:])


@settings(max_examples=100, deadline=None)
@given(set_id=st.sampled_from(SETS), intent=st.sampled_from(INTENT_LABELS))
def test_conversations_always_end_within_the_caps(set_id: str, intent: str) -> None:
    """Saying the same thing forever, or staying silent forever, still ends the call within the caps."""
    for event in (intent, "<silence>"):
        manager = DialogueManager(LIBRARY, ScriptedClassifier(), TODAY, script_set=set_id, config=CONFIG,
                                  slot_extractor=scripted_slots)
        _play(manager, [event] * (CONFIG.max_turns + CONFIG.max_no_input))
        assert manager.ended, (set_id, event, manager.path)
        _check_outcome(manager, [], {event})


TRAIN_DIR = Path(__file__).resolve().parents[2] / "dialogue" / "data" / "intents" / "train"
PHRASES = sorted({line.strip() for f in TRAIN_DIR.glob("*.txt") for line in f.read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.startswith("#")}) if TRAIN_DIR.is_dir() else []


@settings(max_examples=60, deadline=None)
@given(set_id=st.sampled_from(SETS), said=st.lists(
    st.one_of(st.sampled_from(PHRASES or ["嗯"]), st.text(min_size=1, max_size=12), st.just("<silence>")),
    max_size=16))
def test_random_real_phrases_with_the_real_classifier(set_id: str, said: list[str]) -> None:
    """Real Chinese phrases (and junk) through the real intent classifier and slot extractor keep the guarantees."""
    manager = DialogueManager(LIBRARY, _real_classifier(), TODAY, script_set=set_id, config=CONFIG)
    actions = _play(manager, said)
    acted_on = {a.intent for a in actions if a.intent is not None}
    if not manager.ended:
        manager.on_hangup()
    _check_outcome(manager, actions, acted_on)


@functools.cache
def _real_classifier() -> IntentSource:
    from dialogue.intents import IntentClassifier

    return IntentClassifier.load()

"""C9 without a human agent (issue 17): no false "transferring", a truthful callback offer, honest outcomes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dialogue_fakes import TODAY, ScriptedClassifier, converse, library_variant, make_borrower, scripted_slots

from dialogue.lint import lint_library
from dialogue.manager import DialogueManager, Hangup, Transfer
from dialogue.scripts import ScriptLibrary, load_script_library
from session.conversation import DialogueConversation

FON = "first_overdue_notice"


def _no_transfer_said(library: ScriptLibrary, texts: list[str]) -> None:
    transferring = library.fragments["ag_transfer"]
    assert not any(transferring in t or "正在为您转接" in t for t in texts), texts


@pytest.mark.parametrize("set_id", ["first_overdue_notice", "pre_due_courteous", "late_stage_firm"])
def test_complaint_without_agent_offers_a_callback_truthfully(library: ScriptLibrary, set_id: str) -> None:
    """No agent: the complaint hears a callback offer (never 'transferring') and ends as complaint + callback."""
    run = converse(library, set_id, ["complaint", "affirm"], agent_available=False)
    assert "complaint/ack_no_agent" in run.nodes and not any(isinstance(a, Transfer) for a in run.actions)
    _no_transfer_said(library, run.texts)
    assert isinstance(run.last, Hangup)
    outcome = run.outcome
    assert (outcome.disposition, outcome.complaint, outcome.callback_requested) == ("complaint", True, True)


def test_complaint_without_agent_declining_the_callback_is_still_a_complaint(library: ScriptLibrary) -> None:
    """A 'no' to the callback offer still records the complaint, with no callback request."""
    run = converse(library, FON, ["affirm", "complaint", "deny"], agent_available=False)
    assert run.nodes[-1] == "complaint/no_callback"
    assert (run.outcome.disposition, run.outcome.complaint, run.outcome.callback_requested) == (
        "complaint", True, False)


def test_request_for_a_person_without_agent_is_a_callback(library: ScriptLibrary) -> None:
    """'转人工' (or key 0) with no agent: the bot says a person will call back and records a callback request."""
    for turns in (["affirm", "request_agent"], ["affirm", "<dtmf:0>"]):
        run = converse(library, FON, turns, agent_available=False)
        assert run.nodes[-1] == "agent_transfer/no_agent"
        _no_transfer_said(library, run.texts)
        assert (run.outcome.disposition, run.outcome.callback_requested) == ("callback", True)


def test_dispute_without_agent_does_not_offer_a_transfer(library: ScriptLibrary) -> None:
    """After identity a dispute with no agent is recorded with a callback, no 'shall I transfer you?'."""
    run = converse(library, FON, ["affirm", "dispute"], agent_available=False)
    assert run.nodes[-1] == "dispute/record_no_agent"
    assert "转接" not in run.texts[-1]
    assert (run.outcome.disposition, run.outcome.callback_requested) == ("dispute", True)


def test_with_an_agent_the_complaint_is_still_offered_the_transfer(library: ScriptLibrary) -> None:
    """With an agent the complaint is offered one, and a yes transfers."""
    run = converse(library, FON, ["complaint", "affirm"], agent_available=True)
    assert "complaint/ack" in run.nodes and isinstance(run.last, Transfer)


def test_failed_refer_is_not_stored_as_transferred(library: ScriptLibrary) -> None:
    """The session reports the REFER failed: the stored outcome is the complaint with a callback, never transferred."""
    manager = DialogueManager(library, ScriptedClassifier(), TODAY, script_set=FON, slot_extractor=scripted_slots,
                              agent_available=True)
    conversation = DialogueConversation(manager, make_borrower())
    conversation.start()
    conversation.on_utterance("complaint", 0.9)
    conversation.on_utterance("affirm", 0.9)
    assert manager.outcome is not None and manager.outcome.disposition == "transferred"
    conversation.on_transfer_failed("transfer_failed")
    outcome = conversation.outcome()
    assert outcome is not None
    assert (outcome["disposition"], outcome["complaint"], outcome["transfer_failed"], outcome["callback_requested"]) \
        == ("complaint", True, True, True)


def test_failed_refer_of_a_plain_agent_request_is_a_callback(library: ScriptLibrary) -> None:
    """A request for a person whose REFER fails is stored as a callback request, not transferred."""
    manager = DialogueManager(library, ScriptedClassifier(), TODAY, script_set=FON, slot_extractor=scripted_slots,
                              agent_available=True)
    manager.start(make_borrower())
    manager.on_utterance("affirm")
    assert isinstance(manager.on_utterance("request_agent"), Transfer)
    outcome = manager.on_transfer_failed("transfer_failed")
    assert (outcome.disposition, outcome.transfer_failed) == ("callback", True)


def test_lint_requires_an_unavailable_target_on_transfer_nodes(tmp_path: Path) -> None:
    """A transfer node without `unavailable` is a C9 lint error (the bot could only pretend to transfer)."""
    root = library_variant(tmp_path, {"scenes/service.toml": [('unavailable = "no_agent"', '')]})
    errors = lint_library(load_script_library(root))
    assert any(e.rule == "C9" and "unavailable" in e.message for e in errors), errors


def test_lint_requires_a_callback_for_complaints_without_agent(tmp_path: Path) -> None:
    """A complaint scene whose no-agent path never ends with a callback request fails C9."""
    root = library_variant(tmp_path, {"scenes/service.toml": [
        ('[scenes.complaint.nodes.callback]\nprompt = ["cp_callback"]\nflags = ["callback_requested"]',
         '[scenes.complaint.nodes.callback]\nprompt = ["cp_callback"]')]})
    errors = lint_library(load_script_library(root))
    assert any(e.rule == "C9" and "no agent reachable" in e.message for e in errors), errors


def test_serve_warns_when_a_trunk_has_no_agent() -> None:
    """`serve` names the trunks without agent_uri at start; none when every trunk has one."""
    from cli.serve import agent_warning
    from config.server_config import load_server_config

    config = load_server_config()
    without = dataclasses.replace(config, trunks=tuple(dataclasses.replace(t, agent_uri=None) for t in config.trunks))
    warning = agent_warning(without)
    assert warning is not None and all(repr(t.name) in warning for t in config.trunks) and "callback" in warning
    with_agent = dataclasses.replace(config, trunks=tuple(
        dataclasses.replace(t, agent_uri="sip:agents@127.0.0.1") for t in config.trunks))
    assert agent_warning(with_agent) is None

"""Compliance enforced by the engine: scripts loaded WITHOUT the linter still cannot break C4-C7, C9, C12."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from dialogue_fakes import TODAY, converse, library_variant, make_borrower

from config.errors import ConfigError
from dialogue.manager import Hangup
from dialogue.prompt import DEBT_VARIABLES, Variable
from dialogue.render import DisclosureRefused, prompt_for
from dialogue.scripts import ScriptLibrary, load_script_library

FON = "first_overdue_notice"
DEBT_DETAILS = ("3200", "信用贷", "11月16日", "逾期", "欠款")
IDENTITY_ASK = 'prompt = ["id_ask_prefix", "{name}", "id_ask_suffix"]\non = { affirm = "confirmed"'


def _said(run_texts: list[str]) -> str:
    return "".join(run_texts)


def test_debt_variable_in_identity_question_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """C6: a script that puts {amount} into the identity question is refused at run time and the refusal is logged."""
    root = library_variant(tmp_path, {"scenes/identity.toml": [
        (IDENTITY_ASK, IDENTITY_ASK.replace('"{name}", ', '"{name}", "{amount}", '))]})
    library = load_script_library(root)  # loads: structure is fine, only the linter would object
    with caplog.at_level(logging.WARNING, logger="dialogue"):
        run = converse(library, FON, [])
    assert isinstance(run.last, Hangup) and run.last.prompt is None
    assert not any(word in _said(run.texts) for word in DEBT_DETAILS)
    assert any(getattr(r, "event_fields", {}).get("rule") == "C6" for r in caplog.records)


def test_debt_word_in_pre_identity_wording_is_refused(tmp_path: Path) -> None:
    """C6: a set that rewords the identity question to mention overdue debt cannot say it before confirmation."""
    root = library_variant(tmp_path, {
        "fragments.toml": [('id_ask_suffix = "本人吗？"', 'id_ask_suffix = "本人吗？您的欠款已逾期。"')]})
    library = load_script_library(root)
    run = converse(library, FON, [])
    assert isinstance(run.last, Hangup)
    assert not any(word in _said(run.texts) for word in DEBT_DETAILS)


def test_third_party_prompt_with_amount_is_refused_mid_call(tmp_path: Path) -> None:
    """C6: a third-party scene rewritten to mention the amount ends the call with a neutral close instead."""
    root = library_variant(tmp_path, {"scenes/contacts.toml": [
        ('prompt = ["tp_pass_on_prefix", "{name}",', 'prompt = ["tp_pass_on_prefix", "{name}", "{amount}",')]})
    library = load_script_library(root)
    run = converse(library, FON, ["third_party"])
    assert isinstance(run.last, Hangup) and run.last.prompt is not None
    assert run.last.prompt.node == "engine/refusal_close"
    assert not any(word in _said(run.texts) for word in DEBT_DETAILS)
    assert not run.outcome.identity_confirmed


def test_render_guard_refuses_every_debt_variable(library: ScriptLibrary) -> None:
    """C6: building the notice prompt before identity raises DisclosureRefused; after identity it holds the details."""
    borrower = make_borrower()
    for node in ("notice_first_overdue/tell", "notice_pre_due/tell", "amount_question/tell"):
        with pytest.raises(DisclosureRefused):
            prompt_for(library, FON, node, borrower, TODAY, identity_confirmed=False)
    prompt = prompt_for(library, FON, "notice_pre_due/tell", borrower, TODAY, identity_confirmed=True)
    names = {p.name for p in prompt.parts if isinstance(p, Variable)}
    assert {"amount", "due_date", "product"} <= names <= DEBT_VARIABLES | {"creditor"}


def test_opening_without_recording_notice_says_nothing(tmp_path: Path) -> None:
    """C5: an opening that drops the recording notice is refused: the bot hangs up without speaking."""
    root = library_variant(tmp_path, {"scenes/opening.toml": [
        ('prompt = ["open_hello", "{creditor}", "open_period", "open_purpose", "open_recording_notice"]',
         'prompt = ["open_hello", "{creditor}", "open_period", "open_purpose"]')]})
    library = load_script_library(root)
    run = converse(library, FON, [])
    assert run.prompts == [] and isinstance(run.last, Hangup)


def test_opening_without_creditor_says_nothing(tmp_path: Path) -> None:
    """C4: an opening that does not name the creditor is refused the same way."""
    root = library_variant(tmp_path, {"scenes/opening.toml": [
        ('prompt = ["open_hello", "{creditor}", "open_period", "open_purpose", "open_recording_notice"]',
         'prompt = ["open_hello", "open_period", "open_purpose", "open_recording_notice"]')]})
    run = converse(load_script_library(root), FON, [])
    assert run.prompts == []


def test_opening_without_purpose_says_nothing(tmp_path: Path) -> None:
    """C4: an opening that names the creditor but not why we call is refused: the bot hangs up silently."""
    root = library_variant(tmp_path, {"scenes/opening.toml": [
        ('prompt = ["open_hello", "{creditor}", "open_period", "open_purpose", "open_recording_notice"]',
         'prompt = ["open_hello", "{creditor}", "open_period", "open_recording_notice"]')]})
    run = converse(load_script_library(root), FON, [])
    assert run.prompts == [] and isinstance(run.last, Hangup)


def test_every_shipped_opening_states_the_purpose_without_debt_words(library: ScriptLibrary) -> None:
    """Each script set's first prompt says a purpose phrase and, before identity, no debt word (C4 with C6)."""
    for set_id in sorted(library.script_sets):
        first = converse(library, set_id, []).prompts[0]
        assert any(p in first.text for p in library.compliance.purpose), (set_id, first.text)
        assert not any(w in first.text for w in library.compliance.debt_words), (set_id, first.text)


def test_purpose_phrase_with_a_debt_word_is_refused_at_load(tmp_path: Path) -> None:
    """compliance.toml cannot make the purpose reveal the debt: a purpose phrase with a debt word fails loading."""
    root = library_variant(tmp_path, {"compliance.toml": [('purpose = ["', 'purpose = ["还款事宜", "')]})
    with pytest.raises(ConfigError, match="purpose"):
        load_script_library(root)


def test_untruthful_robot_answer_is_refused(tmp_path: Path) -> None:
    """C12: if the who-is-calling answer is edited to hide that the caller is an AI, the engine will not say it."""
    root = library_variant(tmp_path, {"fragments.toml": [('wc_ai = "的智能语音助手。"', 'wc_ai = "的客服小王。"')]})
    run = converse(load_script_library(root), FON, ["affirm", "ask_caller"])
    assert "客服小王" not in _said(run.texts)
    assert isinstance(run.last, Hangup) and run.last.prompt is not None
    assert run.last.prompt.node == "engine/refusal_close"


def test_scripts_cannot_reroute_compliance_intents(tmp_path: Path) -> None:
    """C7/C9/C12: a node or a script set that reroutes stop_calling, complaint or ask_caller fails to load."""
    from config.errors import ConfigError

    node_override = library_variant(tmp_path / "a", {"scenes/identity.toml": [
        (IDENTITY_ASK, IDENTITY_ASK.replace('on = { affirm', 'on = { stop_calling = "confirmed", affirm'))]})
    with pytest.raises(ConfigError, match="stop_calling"):
        load_script_library(node_override)
    set_override = library_variant(tmp_path / "b", {"sets/first_overdue_notice.toml": [
        ('[exits]', '[handlers]\ncomplaint = "closing_auto"\n\n[exits]')]})
    with pytest.raises(ConfigError, match="complaint"):
        load_script_library(set_override)


def test_stop_calling_sets_opt_out_even_if_the_scene_forgets(tmp_path: Path) -> None:
    """C7: with the opt-out scene edited to end as 'refused' without the flag, opt_out is still recorded."""
    root = library_variant(tmp_path, {"scenes/service.toml": [
        ('flags = ["opt_out"]\nend = "opt_out"', 'end = "refused"')]})
    run = converse(load_script_library(root), FON, ["affirm", "stop_calling"])
    assert run.outcome.opt_out


def test_complaint_flag_is_set_even_if_the_scene_forgets(tmp_path: Path) -> None:
    """C9: a complaint is recorded as one even when the complaint scene no longer sets the flag."""
    root = library_variant(tmp_path, {"scenes/service.toml": [('mark = "complaint"\nflags = ["complaint"]\n', '')]})
    run = converse(load_script_library(root), FON, ["affirm", "complaint", "request_agent"])
    assert run.outcome.complaint and run.outcome.disposition == "transferred"

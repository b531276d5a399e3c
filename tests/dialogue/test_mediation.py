"""Mediation notice set (issue 13): consent recorded, C6 for third parties, C7/C9, C8 linting, chat and store."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from dialogue_fakes import BORROWER_BASE, converse, library_variant, make_borrower

from cli import chat
from dialogue.borrower import Borrower, BorrowerError
from dialogue.lint import lint_library
from dialogue.manager import Hangup
from dialogue.outcome import Outcome
from dialogue.scripts import ScriptLibrary, load_script_library
from server import build_parser

MN = "mediation_notice"
MEDIATOR = BORROWER_BASE["mediator"]
MEDIATOR_PHONE = BORROWER_BASE["mediator_phone"]


def _said(texts: list[str]) -> str:
    return "".join(texts)


def _nothing_about_the_case(library: ScriptLibrary, text: str) -> None:
    assert MEDIATOR not in text and MEDIATOR_PHONE not in text
    assert not any(word in text for word in library.compliance.debt_words), text  # 调解 is one of them


def test_consent_yes_is_recorded_after_the_notice(library: ScriptLibrary) -> None:
    """Yes after the notice: mediation_consent true, a person (the mediator) calls back, contact said after identity."""
    run = converse(library, MN, ["affirm", "affirm"])
    assert run.nodes == ["identity_check/ask", "notice_mediation/tell", "notice_mediation/consent_yes"]
    notice = run.texts[1]
    assert notice.index(library.fragments["id_confirmed"]) < notice.index("调解")
    assert MEDIATOR in notice and MEDIATOR_PHONE in notice and library.fragments["md_consent_ask"] in notice
    o = run.outcome
    assert (o.mediation_consent, o.disposition, o.callback_requested, o.identity_confirmed) == (True, "callback",
                                                                                                  True, True)
    assert o.to_dict()["mediation_consent"] is True


def test_consent_no_is_recorded(library: ScriptLibrary) -> None:
    """No after the notice: mediation_consent false; the organisation's number is still read out."""
    run = converse(library, MN, ["affirm", "deny"])
    assert run.nodes[-1] == "notice_mediation/consent_no" and MEDIATOR_PHONE in run.texts[-1]
    assert (run.outcome.mediation_consent, run.outcome.disposition) == (False, "refused")


def test_hardship_hears_that_the_mediator_is_for_that_then_consent_is_asked_again(library: ScriptLibrary) -> None:
    """Hardship at the notice: the bot says the mediator discusses it and asks again; the yes then counts."""
    run = converse(library, MN, ["affirm", "hardship", "affirm"])
    assert run.nodes[-2:] == ["notice_mediation/for_mediator", "notice_mediation/consent_yes"]
    assert (run.outcome.mediation_consent, run.outcome.hardship) == (True, True)


@pytest.mark.parametrize("turns", [["affirm", "other", "other"], ["affirm", "other 我再想想"]])
def test_unclear_answer_records_no_consent(library: ScriptLibrary, turns: list[str]) -> None:
    """Not understood twice, or undecided: no consent either way (null), the number is read back, polite close."""
    run = converse(library, MN, turns)
    assert run.nodes[-1] == "notice_mediation/unclear" and MEDIATOR_PHONE in run.texts[-1]
    assert run.outcome.mediation_consent is None and run.outcome.to_dict()["mediation_consent"] is None


@pytest.mark.parametrize("turns", [["third_party"], ["deny", "affirm"], ["deny", "third_party"]])
def test_third_party_hears_nothing_about_the_debt_or_the_mediation(library: ScriptLibrary, turns: list[str]) -> None:
    """C6: someone else (also a relative) only hears a callback request: no mediator, number, 调解 or debt word."""
    run = converse(library, MN, turns)
    assert run.outcome.disposition == "third_party" and not run.outcome.identity_confirmed
    _nothing_about_the_case(library, _said(run.texts))
    assert run.outcome.mediation_consent is None


def test_complaint_at_the_notice_is_a_complaint_without_consent(library: ScriptLibrary) -> None:
    """C9: a complaint at the consent question is acknowledged and recorded; consent stays unknown."""
    run = converse(library, MN, ["affirm", "complaint", "deny"], agent_available=False)
    assert "complaint/" in run.nodes[-2] or "complaint/" in run.nodes[-1]
    assert (run.outcome.complaint, run.outcome.disposition, run.outcome.mediation_consent) == (True, "complaint", None)


def test_complaint_before_identity_says_nothing_about_the_mediation(library: ScriptLibrary) -> None:
    """C6 with C9: a complaint before the identity check is answered without a word about the case."""
    run = converse(library, MN, ["complaint", "deny"], agent_available=False)
    assert run.outcome.complaint and not run.outcome.identity_confirmed
    _nothing_about_the_case(library, _said(run.texts))


def test_opt_out_at_the_notice_is_honoured(library: ScriptLibrary) -> None:
    """C7: stop calling at the consent question ends with opt_out and no consent recorded."""
    run = converse(library, MN, ["affirm", "stop_calling"])
    assert run.nodes[-1].startswith("opt_out/")
    assert (run.outcome.opt_out, run.outcome.disposition, run.outcome.mediation_consent) == (True, "opt_out", None)


def test_consent_cannot_stand_with_an_opt_out() -> None:
    """An outcome that says both 'contact me' and 'stop calling' is refused: the stop request wins."""
    with pytest.raises(ValueError, match="mediation_consent"):
        Outcome("opt_out", opt_out=True, mediation_consent=True)


def test_case_without_a_mediator_is_closed_without_guessing(library: ScriptLibrary) -> None:
    """A borrower record with no mediator on file: the engine refuses the notice and closes politely."""
    record = {k: v for k, v in BORROWER_BASE.items() if k not in ("mediator", "mediator_phone")}
    run = converse(library, MN, ["affirm"], Borrower.from_dict(record))
    assert isinstance(run.last, Hangup) and run.last.prompt is not None
    assert run.last.prompt.node == "engine/refusal_close"
    assert "调解" not in _said(run.texts) and run.outcome.mediation_consent is None


def test_mediator_fields_are_validated() -> None:
    """A mediator number that is not digits and hyphens is refused naming the field; records round-trip."""
    with pytest.raises(BorrowerError, match="mediator_phone"):
        make_borrower(mediator_phone="call us")
    with pytest.raises(BorrowerError, match="mediator"):
        make_borrower(mediator="  ")
    b = make_borrower()
    assert Borrower.from_dict(b.to_dict()) == b
    plain = Borrower.from_dict({k: v for k, v in BORROWER_BASE.items() if not k.startswith("mediator")})
    assert "mediator" not in plain.to_dict()  # records outside mediation keep their stored shape


def test_shipped_mediation_set_passes_the_linter_and_says_no_court_word(library: ScriptLibrary) -> None:
    """The set lints clean, and none of its prompts say 起诉/法院/坐牢 at all (not even as a 'neutral' fact)."""
    assert [e for e in lint_library(library) if MN in e.where or "md_" in e.where] == []
    spoken = [library.fragments[library.fragment(i, library.script_sets[MN]).id]
              for n in library.nodes() if n.key.startswith("notice_mediation/") for i in n.spoken
              if not i.startswith("{")]
    for word in ("起诉", "法院", "坐牢", "诉讼"):
        assert word in library.compliance.forbidden
        assert not any(word in text for text in spoken)


@pytest.mark.parametrize("threat", ["如果您不同意，我们将起诉您。", "不配合的话法院会处理。", "拒绝调解可能要坐牢。",
                                    "不同意就进入诉讼程序。"])
def test_linter_rejects_a_mediation_notice_with_a_threat(tmp_path: Path, threat: str) -> None:
    """C8: a variant of the notice that threatens a lawsuit, a court or prison fails linting on that fragment."""
    root = library_variant(tmp_path, {"fragments.toml": [('md_for_mediator = "', f'md_for_mediator = "{threat}')]})
    errors = lint_library(load_script_library(root))
    assert any(e.rule == "C8" and e.where == "fragment md_for_mediator" for e in errors), errors


def test_linter_rejects_the_notice_before_identity(tmp_path: Path) -> None:
    """C6: a variant that plays the mediation notice instead of the identity check is rejected."""
    root = library_variant(tmp_path, {"sets/mediation_notice.toml": [
        ('[exits]\n', '[exits]\nidentify = "notice_mediation"\n')]})
    errors = lint_library(load_script_library(root))
    assert any(e.rule == "C6" and MN in e.where for e in errors), errors


def _chat_json(tmp_path: Path, lines: list[str]) -> list[dict[str, Any]]:
    borrower = tmp_path / "case.json"
    borrower.write_text(json.dumps({**BORROWER_BASE, "overdue_days": 120, "due_date": "2026-07-31"},
                                   ensure_ascii=False), encoding="utf-8")
    args = build_parser().parse_args(["chat", "--borrower", str(borrower), "--today", "2026-11-28", "--json",
                                      "--script", MN])
    out = io.StringIO()
    assert chat.run(args, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(("reply", "consent"), [("可以", True), ("不同意", False)])
def test_chat_json_shows_the_consent(tmp_path: Path, reply: str, consent: bool) -> None:
    """`chat --json --script mediation_notice` with the real classifier: the end line carries mediation_consent."""
    records = _chat_json(tmp_path, ["是我", reply])
    notice = records[2]
    assert notice["node"] == "notice_mediation/tell" and MEDIATOR in notice["text"]
    end = records[-1]
    assert end["event"] == "end" and end["outcome"]["mediation_consent"] is consent


def test_consent_is_stored_with_the_call(tmp_path: Path, library: ScriptLibrary) -> None:
    """The store keeps the outcome JSON: a consent from a real conversation reads back from the call and outcomes."""
    from campaign.model import AttemptStart, Campaign, ImportedBorrower
    from campaign.store import SqliteStore
    from session.record import CallRecord

    now = time.time()
    stored = Borrower.from_dict(make_borrower().to_dict())  # as the dialer rebuilds it from the store
    run = converse(library, MN, ["affirm", "affirm"], stored)
    record = CallRecord(
        call_id="c-1", borrower_id="B001", attempt_id="a-1", trunk=None, script_set=MN, disposition="answered",
        sip_code=200, sip_reason="OK", invite_sent_at=now - 30, ringing_at=None, answered_at=now - 27,
        ended_at=now, hangup_by="local", end_reason="dialogue_end", recording=None,
        outcome=run.outcome.to_dict(), turns=(), recognizer="sim",
    )
    store = SqliteStore(tmp_path / "campaigns.sqlite3")
    try:
        store.create_campaign(Campaign("m", "mediation", "running", None, "Asia/Shanghai", None, "4000", 4, 1.0, now))
        store.upsert_borrowers("m", [ImportedBorrower("B001", stored.to_dict(), (stored.phone,), stored.timezone)], now)
        store.begin_attempt(AttemptStart("a-1", "m", "B001", stored.phone, None, "manual", now))
        store.complete_attempt("a-1", record, now)
        call = store.get_call("c-1")
        assert call["record"]["outcome"]["mediation_consent"] is True
        row = store._db.execute("SELECT data FROM outcomes WHERE call_id = ?", ("c-1",)).fetchone()
        assert json.loads(row["data"])["mediation_consent"] is True
    finally:
        store.close()

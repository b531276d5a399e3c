"""Compliance audit of call records: each rule passes on a clean call and fails on its own breach."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import replace
from pathlib import Path

import pytest

from config.errors import ConfigError
from qa.audit import AuditReport, audit_call, load_rules
from session.record import CallRecord, TurnRecord

RULES = load_rules()
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def turn(index: int, prompt: str, *, parts: tuple[str, ...] = (), intent: str | None = None,
         confirmed: bool | None = None, heard: str = "") -> TurnRecord:
    return TurnRecord(
        index=index, speech_start_s=None, speech_end_s=None, heard_text=heard, partials=0, intent=intent,
        confidence=0.9 if intent else None, node=f"n{index}", prompt_text=prompt, interruptible=index > 0,
        prompt_frames_total=50, prompt_frames_played=50, interrupted=False, latency_ms=None,
        asr_latency_ms=None, event="opening" if index == 0 else "utterance", prompt_parts=parts,
        identity_confirmed=confirmed,
    )


OPENING = turn(0, "您好，这里是安心金融公司。来电是想和您沟通一下账户相关事宜。本次通话将被录音。请问是张先生本人吗？")


def record(*turns: TurnRecord, hour: int = 10, outcome: dict[str, object] | None = None,
           hangup_by: str = "bot") -> CallRecord:
    at = dt.datetime(2026, 11, 27, hour, 30, tzinfo=SHANGHAI).timestamp()
    return CallRecord(
        call_id="call-1", borrower_id="b1", attempt_id="a1", trunk="local", script_set="standard",
        disposition="answered", sip_code=200, sip_reason="OK", invite_sent_at=at - 5, ringing_at=at - 4,
        answered_at=at, ended_at=at + 60, hangup_by=hangup_by, end_reason="done", recording=None,
        outcome=outcome or {"disposition": "promise_to_pay", "opt_out": False}, turns=turns,
    )


def failed(report: AuditReport) -> dict[str, int | None]:
    return {f.rule: f.turn for f in report.violations}


def test_clean_call_passes_every_rule() -> None:
    """Identification, notice, debt only after 'yes it is me', polite wording: all six checks pass."""
    amount = turn(1, "您本期应还3000元。", parts=("amount_intro", "$amount"), intent="affirm", confirmed=True)
    rec = record(OPENING, amount)
    report = audit_call(rec, RULES)
    assert report.passed, report.violations
    assert {f.rule for f in report.findings} == {"C1", "C4", "C5", "C6", "C7", "C8"}


def test_debt_detail_to_third_party_is_flagged_on_that_turn() -> None:
    """An amount played after '他不在家' (identity not confirmed) breaks C6 at that turn."""
    rec = record(OPENING, turn(1, "他欠款3000元。", parts=("$amount",), intent="third_party", confirmed=False))
    assert failed(audit_call(rec, RULES)) == {"C6": 1}


def test_identity_falls_back_to_affirm_intent_when_state_unknown() -> None:
    """Old records without the dialogue's identity state use an 'affirm' turn as confirmation."""
    rec = record(OPENING, turn(1, "您本期应还3000元。", parts=("$amount",), intent="affirm"))
    assert audit_call(rec, RULES).passed


def test_missing_notice_and_identification_fail_c4_c5() -> None:
    """An opening that greets only names neither the creditor nor the recording."""
    rec = record(turn(0, "您好，请问是张先生吗？"))
    assert failed(audit_call(rec, RULES)) == {"C4": 0, "C5": 0}


def test_purpose_is_always_required() -> None:
    """Naming the creditor without the purpose of the call fails C4, whatever the rules object says."""
    rec = record(turn(0, "您好，这里是示例消费金融客户服务中心，本次通话将被录音。", parts=("$creditor",)))
    assert failed(audit_call(rec, RULES)) == {"C4": 0}
    assert failed(audit_call(rec, replace(RULES, require_purpose=False))) == {"C4": 0}


def test_rules_file_cannot_switch_the_purpose_off(tmp_path: Path) -> None:
    """`require_purpose = false` is refused at load with the key and the reason (C4 cannot be loosened)."""
    from qa.audit import DEFAULT_RULES

    text = DEFAULT_RULES.read_text(encoding="utf-8").replace("[identify]", "[identify]\nrequire_purpose = false", 1)
    loose = tmp_path / "audit.toml"
    loose.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"require_purpose.*cannot be switched off"):
        load_rules(loose)


def test_shipped_openings_pass_the_audit_purpose_check() -> None:
    """Every shipped opening says one of the audit's purpose phrases (the scripts and the audit agree)."""
    from dialogue.scripts import load_script_library

    library = load_script_library()
    for scene_id in ("opening_standard", "opening_courteous", "opening_brief"):
        node = library.scenes[scene_id].nodes["hello"]
        said = "".join(library.fragments[i] for i in node.prompt if not i.startswith("{"))
        assert any(p in said for p in RULES.purpose_phrases), scene_id


def test_call_at_night_fails_window() -> None:
    """A call answered at 22:30 Shanghai time breaks C1 and the finding shows the local time."""
    report = audit_call(record(OPENING, hour=22), RULES)
    assert failed(report) == {"C1": None}
    assert "22:30" in report.violations[0].detail


def test_unknown_zone_cannot_prove_window() -> None:
    """An unknown time zone is a failed check with a reason, not a pass."""
    report = audit_call(record(OPENING), RULES, timezone="Mars/Olympus")
    assert failed(report) == {"C1": None}


def test_forbidden_phrase_is_named() -> None:
    """A threat of police involvement in any prompt fails C8 and names the phrase."""
    rec = record(OPENING, turn(1, "再不还我们就通知警察。", intent="refuse_to_pay", confirmed=True))
    report = audit_call(rec, RULES)
    assert failed(report) == {"C8": 1} and "警察" in report.violations[0].detail


def test_opt_out_must_be_recorded_and_ended() -> None:
    """After '别再打了' the bot may acknowledge once; more prompts or no opt-out in the outcome fail C7."""
    ack = turn(1, "好的，我们会记录您的要求。", intent="stop_calling", confirmed=True)
    good = record(OPENING, ack, outcome={"disposition": "opt_out", "opt_out": True})
    assert audit_call(good, RULES).passed
    more = turn(2, "那请问您什么时候还款？", intent="other", confirmed=True)
    bad = record(OPENING, ack, more, outcome={"disposition": "opt_out", "opt_out": False}, hangup_by="remote")
    report = audit_call(bad, RULES)
    assert failed(report) == {"C7": 1}
    assert "does not record" in report.violations[0].detail and "2 prompts" in report.violations[0].detail


def test_unplayed_prompt_does_not_count() -> None:
    """A prompt cut before its first frame was never heard, so it cannot break a rule."""
    cut = replace(turn(1, "他欠款3000元。", parts=("$amount",), intent="third_party", confirmed=False),
                  prompt_frames_played=0, interrupted=True)
    assert audit_call(record(OPENING, cut), RULES).passed


def test_rules_file_outside_legal_window_is_refused(tmp_path: Path) -> None:
    """A rules file that widens the window past 22:00 fails at load with file and key."""
    text = (Path(__file__).resolve().parents[2] / "qa" / "data" / "audit.toml").read_text(encoding="utf-8")
    bad = tmp_path / "audit.toml"
    bad.write_text(text.replace('end = "22:00"', 'end = "23:00"'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_rules(bad)
    assert "window.end" in str(err.value) and str(bad) in str(err.value)

"""Transcript tests: one scripted conversation per scene (and per segment), asserting what was said and how it ended."""

from __future__ import annotations

import datetime as dt

import pytest
from dialogue_fakes import TODAY, converse, make_borrower

from config.dialogue_config import DialogueConfig
from dialogue.manager import Hangup, PlayPrompt, Transfer
from dialogue.scripts import ScriptLibrary

FON = "first_overdue_notice"

# (case id, script set, borrower changes, turns, disposition, scenes the conversation must pass through)
CASES: list[tuple[str, str, dict[str, object], list[str], str, set[str]]] = [
    ("pay_today", FON, {}, ["affirm", "affirm", "affirm"], "promise_to_pay",
     {"opening_standard", "identity_check", "notice_first_overdue", "promise_today", "promise_capture"}),
    ("promise_with_date_and_amount", FON, {},
     ["affirm", "promise_to_pay", "other date=2026-12-05", "other amount=1000", "affirm"], "promise_to_pay",
     {"promise_capture"}),
    ("pre_due_on_time", "pre_due_gentle", {"overdue_days": 0, "due_date": "2026-12-05"},
     ["affirm", "affirm", "affirm"], "promise_to_pay", {"notice_pre_due", "promise_on_time"}),
    ("partial_payment", "first_overdue_app", {}, ["affirm", "refuse_to_pay", "other amount=500", "affirm"],
     "promise_to_pay", {"partial_payment"}),
    ("partial_refused", "first_overdue_app", {}, ["affirm", "refuse_to_pay", "refuse_to_pay"], "refused",
     {"partial_payment"}),
    ("already_paid", FON, {}, ["affirm", "already_paid", "other"], "already_paid", {"already_paid"}),
    ("hardship", FON, {}, ["affirm", "hardship", "deny"], "hardship", {"hardship"}),
    ("negotiation", FON, {}, ["affirm", "negotiate", "deny", "deny"], "negotiation", {"negotiation", "pursuit_date"}),
    ("pursuit_gets_a_date", FON, {}, ["affirm", "negotiate", "deny", "other date=2026-12-05", "affirm"],
     "promise_to_pay", {"pursuit_date", "promise_capture"}),
    ("pursuit_partial_declined", "partial_first", {"overdue_days": 45}, ["affirm", "negotiate", "deny", "deny"],
     "negotiation", {"pursuit_partial"}),
    ("undecided_then_pursued", FON, {}, ["affirm", "other 我再想想", "deny"], "callback", {"pursuit_date"}),
    ("installment_offer", "first_overdue_courteous", {}, ["affirm", "refuse_to_pay", "deny"], "refused",
     {"installment_offer", "identity_courteous", "notice_courteous", "opening_courteous"}),
    ("refusal_gentle", FON, {}, ["affirm", "refuse_to_pay", "refuse_to_pay"], "refused", {"refusal"}),
    ("refusal_firm", "repeat_overdue", {"overdue_days": 45}, ["affirm", "deny", "deny"], "refused",
     {"refusal_firm", "notice_repeat_overdue"}),
    ("dispute_after_identity", FON, {}, ["affirm", "dispute", "deny"], "dispute", {"dispute"}),
    ("complaint_to_agent", FON, {}, ["complaint", "affirm"], "transferred", {"complaint", "agent_transfer"}),
    ("complaint_callback", FON, {}, ["affirm", "complaint", "deny"], "complaint", {"complaint"}),
    ("busy_with_time", FON, {}, ["busy", "other date=2026-12-01"], "callback", {"busy_callback"}),
    ("busy_no_time", FON, {}, ["affirm", "busy", "other"], "callback", {"busy_callback"}),
    ("repeat_then_pay", FON, {}, ["repeat", "affirm", "affirm", "affirm"], "promise_to_pay", {"repeat_request"}),
    ("robot_question", FON, {}, ["ask_caller", "affirm", "refuse_to_pay", "refuse_to_pay"], "refused",
     {"who_is_calling"}),
    ("payment_method", FON, {}, ["affirm", "ask_payment_method", "affirm", "affirm"], "promise_to_pay",
     {"payment_method"}),
    ("amount_question", FON, {}, ["affirm", "ask_amount", "affirm", "affirm"], "promise_to_pay", {"amount_question"}),
    ("opt_out", FON, {}, ["stop_calling"], "opt_out", {"opt_out"}),
    ("agent", FON, {}, ["affirm", "request_agent"], "transferred", {"agent_transfer"}),
    ("silence", FON, {}, ["<silence>", "<silence>"], "no_response", {"silence_end"}),
    ("not_understood_after_refusal", FON, {}, ["affirm", "refuse_to_pay", "other", "other"], "refused",
     {"closing_auto"}),
    ("not_understood", FON, {}, ["affirm", "other", "other", "other"], "callback", {"pursuit_date", "no_match_close"}),
    ("third_party", FON, {}, ["third_party"], "third_party", {"third_party"}),
    ("relative_late_stage", "late_stage_firm", {"overdue_days": 90}, ["deny", "affirm"], "third_party",
     {"third_party_relative", "opening_brief", "identity_two_step"}),
    ("wrong_number", FON, {}, ["wrong_number"], "wrong_number", {"wrong_number"}),
    ("late_stage_pays", "late_stage_firm", {"overdue_days": 90}, ["affirm", "affirm", "affirm", "affirm"],
     "promise_to_pay", {"notice_late_stage"}),
    ("hardship_aware", "hardship_aware", {}, ["affirm", "hardship", "hardship"], "hardship", {"notice_hardship_aware"}),
    ("promise_followup", "promise_followup", {}, ["affirm", "already_paid", "other"], "already_paid",
     {"notice_promise_followup"}),
    ("callback_followup", "callback_followup", {}, ["affirm", "affirm", "affirm"], "promise_to_pay",
     {"notice_callback_followup"}),
    ("privacy_before_identity", FON, {}, ["ask_amount", "affirm", "affirm", "affirm"], "promise_to_pay",
     {"identity_check"}),
    ("dispute_before_identity", FON, {}, ["deny", "dispute", "wrong_number"], "wrong_number", {"dispute"}),
    ("payment_method_before_identity", FON, {}, ["deny", "ask_payment_method", "wrong_number"], "wrong_number",
     {"payment_method"}),
    ("amount_before_identity", FON, {}, ["deny", "ask_amount", "wrong_number"], "wrong_number", {"amount_question"}),
    ("mediation_consent", "mediation_notice", {"overdue_days": 120}, ["affirm", "affirm"], "callback",
     {"opening_standard", "identity_check", "notice_mediation"}),
    ("mediation_declined", "mediation_notice", {"overdue_days": 120}, ["affirm", "hardship", "deny"], "refused",
     {"notice_mediation"}),
    ("inbound_caller_pays", "inbound_callback", {}, ["affirm", "affirm", "affirm"], "promise_to_pay",
     {"opening_inbound", "identity_check", "notice_inbound", "promise_today"}),
    ("inbound_relative", "inbound_callback", {}, ["third_party"], "third_party", {"opening_inbound", "third_party"}),
]


@pytest.mark.parametrize(("case", "script_set", "changes", "turns", "disposition", "scenes"), CASES,
                         ids=[c[0] for c in CASES])
def test_scene_transcript(library: ScriptLibrary, case: str, script_set: str, changes: dict[str, object],
                          turns: list[str], disposition: str, scenes: set[str]) -> None:
    """Each scripted conversation ends with the expected disposition after passing through the named scenes."""
    run = converse(library, script_set, turns, make_borrower(**changes))
    assert run.outcome.disposition == disposition, run.nodes
    visited = {node.partition("/")[0] for node in run.manager.path}
    assert scenes <= visited, f"missing {scenes - visited}; nodes {run.nodes}"
    assert run.outcome.turns == sum(1 for t in turns if t != "<silence>")


def test_every_scene_has_a_transcript(library: ScriptLibrary) -> None:
    """The transcript table above passes through every one of the shipped scenes."""
    visited: set[str] = set()
    for _, script_set, changes, turns, _, _ in CASES:
        run = converse(library, script_set, turns, make_borrower(**changes))
        visited |= {node.partition("/")[0] for node in run.manager.path}
    assert set(library.scenes) - visited == set()


def test_promise_records_the_confirmed_date_and_amount(library: ScriptLibrary) -> None:
    """A promise keeps the date and amount that were read back and confirmed."""
    run = converse(library, FON, ["affirm", "promise_to_pay", "other date=2026-12-05", "other amount=1000", "affirm"])
    assert run.texts[-2].startswith("跟您确认一下")
    assert "12月5日" in run.texts[-2] and "1000" in run.texts[-2]
    assert (run.outcome.ptp_date, run.outcome.ptp_amount) == (dt.date(2026, 12, 5), 1000.0)
    assert run.outcome.identity_confirmed


def test_changed_date_at_confirmation_is_read_back_again(library: ScriptLibrary) -> None:
    """A new date given while confirming is confirmed again before the promise is recorded."""
    run = converse(library, FON, ["affirm", "affirm", "other date=2026-12-09", "affirm"])
    assert run.nodes[-2] == "promise_capture/confirm" and "12月9日" in run.texts[-2]
    assert run.outcome.ptp_date == dt.date(2026, 12, 9)


def test_pay_today_uses_the_injected_today(library: ScriptLibrary) -> None:
    """'Can you pay today?' -> yes books the full amount on the injected date, not the machine's."""
    run = converse(library, FON, ["affirm", "affirm", "affirm"])
    assert run.outcome.ptp_date == TODAY and run.outcome.ptp_amount == 3200.0


def test_eight_plus_turns_without_repeating_a_prompt(library: ScriptLibrary) -> None:
    """A nine-turn conversation with side questions reaches a promise and never plays one node's prompt 3 times."""
    turns = ["affirm", "ask_caller", "ask_amount", "ask_payment_method", "hardship", "affirm",
             "other amount=800", "other date=2026-12-10", "affirm"]
    run = converse(library, FON, turns)
    assert run.outcome.turns == 9
    assert run.outcome.disposition == "promise_to_pay"
    assert (run.outcome.ptp_amount, run.outcome.ptp_date) == (800.0, dt.date(2026, 12, 10))
    assert max(run.manager._visits.values()) <= 2
    assert "智能语音助手" in run.texts[2] and "3200" in run.texts[3]


def test_opening_names_creditor_and_recording_and_is_not_interruptible(library: ScriptLibrary) -> None:
    """C4/C5: every script set's first prompt names the creditor and announces recording, and cannot be cut."""
    for set_id in library.script_sets:
        run = converse(library, set_id, [])
        first = run.prompts[0]
        assert "示例消费金融" in first.text and "本次通话将被录音" in first.text, set_id
        assert not first.interruptible


def test_third_party_hears_only_a_callback_request(library: ScriptLibrary) -> None:
    """C6: a third party (even a relative) hears the borrower's name and a callback request, nothing about the debt."""
    for set_id, turns in (("first_overdue_notice", ["third_party"]), ("late_stage_firm", ["deny", "affirm"])):
        run = converse(library, set_id, turns, make_borrower(overdue_days=90))
        said = "".join(run.texts)
        assert run.outcome.disposition == "third_party" and not run.outcome.identity_confirmed
        for word in ("3200", "信用贷", "逾期", "欠款", "还款", "11月16日"):
            assert word not in said
        assert "回电" in run.texts[-1]


def test_robot_question_is_answered_truthfully_everywhere(library: ScriptLibrary) -> None:
    """C12: 'are you a robot?' at the identity question and after the notice both get the AI disclosure."""
    for turns in (["ask_caller"], ["affirm", "ask_caller"]):
        run = converse(library, FON, turns)
        assert "智能语音助手" in run.texts[-1]
        assert isinstance(run.last, PlayPrompt)


def test_stop_calling_sets_opt_out_from_any_node(library: ScriptLibrary) -> None:
    """C7: stop_calling at identity, notice, promise or complaint ends with opt_out set."""
    for prefix in ([], ["affirm"], ["affirm", "promise_to_pay"], ["affirm", "complaint"]):
        run = converse(library, FON, [*prefix, "stop_calling"])
        assert run.outcome.opt_out and run.outcome.disposition == "opt_out", prefix


def test_complaint_is_acknowledged_and_offered_agent_or_callback(library: ScriptLibrary) -> None:
    """C9: the complaint answer apologises, offers a human agent and a callback; the flag survives a transfer."""
    run = converse(library, FON, ["affirm", "complaint"])
    assert "抱歉" in run.texts[-1] and "人工" in run.texts[-1] and "回电" in run.texts[-1]
    run = converse(library, FON, ["affirm", "complaint", "<dtmf:1>"])
    assert isinstance(run.last, Transfer) and run.outcome.complaint


def test_turn_cap_closes_politely(library: ScriptLibrary) -> None:
    """With max_turns=4, the fourth borrower turn gets the closing prompt and the call ends with 4 turns."""
    config = DialogueConfig(max_turns=4)
    run = converse(library, FON, ["affirm", "ask_caller", "ask_amount", "ask_payment_method"], config=config)
    assert isinstance(run.last, Hangup) and run.last.prompt is not None
    assert run.last.prompt.node == "engine/turn_cap_close" and run.outcome.turns == 4


def test_third_repeat_closes_instead_of_looping(library: ScriptLibrary) -> None:
    """Asking to repeat again and again never plays the same prompt a third time: the call closes instead."""
    run = converse(library, FON, ["repeat", "repeat"])
    assert isinstance(run.last, Hangup)
    assert run.texts.count(run.texts[0].split("。")[-1]) <= 2
    assert run.outcome.disposition == "callback"


def test_low_confidence_counts_as_not_understood(library: ScriptLibrary) -> None:
    """An intent below min_intent_confidence is re-asked with an apology instead of being acted on."""
    run = converse(library, FON, ["affirm", "stop_calling@0.1"])
    assert run.texts[-1].startswith("抱歉，刚才没有听清楚。")
    assert not run.manager.flags and not run.manager.ended


def test_low_asr_confidence_counts_as_not_understood(library: ScriptLibrary) -> None:
    """Words the recognizer is unsure of (confidence below min_asr_confidence) are not acted on."""
    run = converse(library, FON, ["affirm"])
    action = run.manager.on_utterance("refuse_to_pay", confidence=0.1)
    assert isinstance(action, PlayPrompt) and action.intent == "other"


def test_dtmf_zero_reaches_an_agent_and_unknown_keys_wait(library: ScriptLibrary) -> None:
    """Key 0 transfers to an agent; a key with no meaning at this node neither speaks nor counts a turn."""
    run = converse(library, FON, ["affirm", "<dtmf:7>"])
    assert type(run.last).__name__ == "Wait" and run.manager.turns == 1
    run = converse(library, FON, ["affirm", "<dtmf:0>"])
    assert isinstance(run.last, Transfer)


def test_after_the_end_events_wait_and_outcome_is_stable(library: ScriptLibrary) -> None:
    """Events racing the hang-up get Wait and do not change the recorded outcome."""
    run = converse(library, FON, ["wrong_number"])
    before = run.outcome
    manager = run.manager
    assert type(manager.on_utterance("affirm")).__name__ == "Wait"
    assert type(manager.on_no_input()).__name__ == "Wait"
    assert manager.on_hangup() == before


def test_borrower_hangup_mid_call(library: ScriptLibrary) -> None:
    """Hanging up mid-conversation ends as hung_up with the turns so far and identity state kept."""
    run = converse(library, FON, ["affirm", "ask_amount"])
    outcome = run.manager.on_hangup()
    assert (outcome.disposition, outcome.turns, outcome.identity_confirmed) == ("hung_up", 2, True)


@pytest.mark.parametrize("segment_name", [
    "M0_high_value", "M0_low_risk", "M0_watch", "M1_high_value", "M1_low_risk", "M1_high_risk",
    "M2_high_value", "M2_standard", "M3_high_value", "M3_standard",
])
def test_segment_transcript(library: ScriptLibrary, segments: tuple, segment_name: str) -> None:
    """Each segment's borrower gets its own script set and can reach a confirmed promise with that set's wording."""
    from dialogue_fakes import ScriptedClassifier, scripted_slots

    from dialogue.manager import DialogueManager

    segment = next(s for s in segments if s.name == segment_name)
    days = {"M0": 0, "M1": 12, "M2": 45, "M3": 90}[segment.stage]
    tier = segment.value_tier or "normal"
    score = segment.risk_min if segment.risk_min is not None else 500
    borrower = make_borrower(overdue_days=days, value_tier=tier, risk_score=score)
    manager = DialogueManager(library, ScriptedClassifier(), TODAY, segments=segments, slot_extractor=scripted_slots)
    manager.start(borrower)
    assert manager.segment == segment and manager.script_set is not None
    assert manager.script_set.id == segment.script_set
    extra = ["affirm"] if segment.stage == "M3" else []  # two-step identity check
    for turn in ["affirm", *extra, "promise_to_pay date=2026-12-03 amount=600", "affirm"]:
        action = manager.on_utterance(turn)
    assert isinstance(action, Hangup)
    assert manager.outcome is not None and manager.outcome.disposition == "promise_to_pay"
    assert (manager.outcome.ptp_date, manager.outcome.ptp_amount) == (dt.date(2026, 12, 3), 600.0)


def test_side_question_re_asks_briefly_but_repeat_says_it_all(library: ScriptLibrary) -> None:
    """After a side question the notice is re-asked in its short wording; a repeat request replays it in full."""
    run = converse(library, FON, ["affirm", "ask_amount"])
    assert run.texts[-1] == "您本期待还金额是3200元。请问今天能处理吗？"
    run = converse(library, FON, ["affirm", "repeat"])
    assert run.texts[-1] == "好的，我再说一遍。" + run.texts[1].removeprefix("好的，谢谢您的确认。")


def test_robot_question_is_answered_every_time_it_is_asked(library: ScriptLibrary) -> None:
    """C12 beats the loop guard: a third 'are you a robot?' still gets the truthful answer, then the bot listens."""
    run = converse(library, FON, ["affirm", "ask_caller", "ask_caller", "ask_caller"])
    assert all("智能语音助手" in text for text in run.texts[-3:])
    assert run.texts[-1] == "我是示例消费金融的智能语音助手。" and not run.manager.ended


@pytest.mark.parametrize("segment_name", [
    "M0_high_value", "M0_low_risk", "M0_watch", "M1_high_value", "M1_low_risk", "M1_high_risk",
    "M2_high_value", "M2_standard", "M3_high_value", "M3_standard",
])
def test_segment_transcript_in_chinese(library: ScriptLibrary, segments: tuple, segment_name: str) -> None:
    """Real classifier and slot extractor: each segment's borrower promises '下周五还两千' and it is recorded."""
    from dialogue.intents import IntentClassifier
    from dialogue.manager import DialogueManager

    segment = next(s for s in segments if s.name == segment_name)
    days = {"M0": 0, "M1": 12, "M2": 45, "M3": 90}[segment.stage]
    borrower = make_borrower(overdue_days=days, value_tier=segment.value_tier or "normal",
                             risk_score=segment.risk_min if segment.risk_min is not None else 500,
                             due_date="2026-12-05" if days == 0 else "2026-11-16")
    manager = DialogueManager(library, IntentClassifier.load(), TODAY, segments=segments)
    manager.start(borrower)
    said = ["是我本人", *(["对的"] if segment.stage == "M3" else []), "我下周五还两千"]
    for text in said:
        action = manager.on_utterance(text)
    assert isinstance(action, PlayPrompt) and action.prompt.node == "promise_capture/confirm"
    assert "12月4日" in action.prompt.text and "2000" in action.prompt.text
    assert isinstance(manager.on_utterance("对"), Hangup)
    assert manager.outcome is not None and manager.outcome.disposition == "promise_to_pay"
    assert (manager.outcome.ptp_date, manager.outcome.ptp_amount) == (dt.date(2026, 12, 4), 2000.0)


def test_yes_repeating_the_read_back_terms_confirms_at_once(library: ScriptLibrary) -> None:
    """'对，下周五还三千' at the read-back (yes + the same date and amount) records the promise, no second read-back."""
    run = converse(library, FON, ["affirm", "promise_to_pay", "other date=2026-12-04 amount=3000",
                                  "affirm date=2026-12-04 amount=3000"])
    assert sum(1 for text in run.texts if text.startswith("跟您确认一下")) == 1, run.nodes
    assert run.outcome.disposition == "promise_to_pay"
    assert (run.outcome.ptp_date, run.outcome.ptp_amount) == (dt.date(2026, 12, 4), 3000.0)


def test_yes_with_new_terms_at_the_read_back_is_read_back_once_more(library: ScriptLibrary) -> None:
    """A yes that carries a different amount updates the slot and reads the new terms back once, then records."""
    run = converse(library, FON, ["affirm", "affirm", "affirm amount=3000", "affirm"])
    read_backs = [text for text in run.texts if text.startswith("跟您确认一下")]
    assert len(read_backs) == 2 and "3000" in read_backs[-1], run.texts
    assert run.outcome.disposition == "promise_to_pay" and run.outcome.ptp_amount == 3000.0


def test_real_reply_affirm_date_and_amount_confirms_once(library: ScriptLibrary) -> None:
    """With the real classifier and slot reader, '对，下周五还三千' answers the read-back of those terms once."""
    from dialogue.intents.model import IntentClassifier
    from dialogue.manager import DialogueManager

    manager = DialogueManager(library, IntentClassifier.load(), TODAY, script_set=FON)
    manager.start(make_borrower())
    said = [manager.on_utterance(text) for text in ["是我", "我下周五还三千", "对，下周五还三千"]]
    prompts = [a.prompt.text for a in said if isinstance(a, PlayPrompt | Hangup) and a.prompt is not None]
    assert sum(1 for text in prompts if text.startswith("跟您确认一下")) == 1, prompts
    assert manager.outcome is not None and manager.outcome.disposition == "promise_to_pay"
    assert manager.outcome.ptp_date == dt.date(2026, 12, 4) and manager.outcome.ptp_amount == 3000.0

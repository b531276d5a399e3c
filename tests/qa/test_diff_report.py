"""Live-vs-replay diff and its text/HTML rendering."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qa.audit import audit_call, load_rules
from qa.diff import diff_calls
from qa.jobs import ReplayJob, ReplayReport
from qa.replay import ReplayResult
from qa.report import render_html, render_text
from session.record import CallRecord, TurnRecord


def turn(index: int, heard: str, intent: str | None, node: str, prompt: str) -> TurnRecord:
    return TurnRecord(
        index=index, speech_start_s=None, speech_end_s=None, heard_text=heard, partials=0, intent=intent,
        confidence=0.9 if intent else None, node=node, prompt_text=prompt, interruptible=True,
        prompt_frames_total=10, prompt_frames_played=10, interrupted=False, latency_ms=None, asr_latency_ms=None,
        event="opening" if index == 0 else "utterance", prompt_parts=("$creditor",) if index == 0 else (),
    )


LIVE = (
    turn(0, "", None, "ask", "这里是示例消费金融，本次通话将被录音。"),
    turn(1, "是我", "affirm", "tell", "您有一笔款项。"),
    turn(2, "明天还", "promise_to_pay", "confirm", "确认明天还款。"),
)


def test_identical_calls_have_no_diff() -> None:
    """Same turns and outcome: `same` is true and nothing is listed."""
    diff = diff_calls(LIVE, LIVE, {"disposition": "promise_to_pay"}, {"disposition": "promise_to_pay"})
    assert diff.same and diff.changed_turns == 0


def test_changed_intent_node_and_missing_turn_are_reported() -> None:
    """A turn understood differently shows each changed field; a turn the replay never reached is listed."""
    replay = (LIVE[0], replace(LIVE[1], intent="deny", node="wrong_person"))
    diff = diff_calls(LIVE, replay, {"disposition": "promise_to_pay"}, {"disposition": "wrong_number"})
    assert not diff.same and diff.changed_turns == 2
    assert {c.field for c in diff.turns[1].changes} == {"intent", "node"}
    assert diff.turns[2].replay is None and diff.turns[2].live == LIVE[2]
    assert [(c.field, c.live, c.replay) for c in diff.outcome_changes] == [
        ("disposition", "promise_to_pay", "wrong_number")
    ]


def _report(tmp_path: Path) -> ReplayReport:
    from dialogue.borrower import Borrower

    borrower = Borrower.from_dict({
        "id": "B1", "name": "张伟", "phone": "13800138000", "amount_due": 100, "overdue_days": 3,
        "due_date": "2026-11-01", "product": "信用贷", "creditor": "示例消费金融", "risk_score": 600,
    })
    record = CallRecord(
        call_id="c-1", borrower_id="B1", attempt_id=None, trunk=None, script_set="s", disposition="answered",
        sip_code=200, sip_reason="OK", invite_sent_at=1_795_900_000.0, ringing_at=None,
        answered_at=1_795_900_000.0, ended_at=None, hangup_by="bot", end_reason="promise_to_pay", recording=None,
        outcome={"disposition": "promise_to_pay"}, turns=LIVE,
    )
    changed = (LIVE[0], replace(LIVE[1], heard_text="是的<script>"), LIVE[2])
    result = ReplayResult(str(tmp_path / "c.wav"), "sim", ("SIMULATION: texts from the record",), "s", changed,
                          {"disposition": "promise_to_pay"}, "promise_to_pay", 30.0, 0.3)
    job = ReplayJob(tmp_path / "c.wav", borrower, record, "Asia/Shanghai")
    audit = audit_call(record, load_rules(), "Asia/Shanghai")
    return ReplayReport(job, result, diff_calls(LIVE, changed, record.outcome, result.outcome), audit, audit)


def test_text_shows_heard_understood_said_and_the_diff(tmp_path: Path) -> None:
    """The terminal view has the three lines per turn, the simulation note and the changed text."""
    text = render_text(_report(tmp_path))
    assert "NOTE: SIMULATION" in text
    assert "heard:      是的<script>" in text and "understood: affirm (0.90)" in text
    assert "diff: heard_text: live '是我' -> replay '是的<script>'" in text
    assert "differs from the live call in 1 turn(s)" in text and "100x real time" in text


def test_html_escapes_transcripts(tmp_path: Path) -> None:
    """Borrower words are escaped in the HTML report (a transcript cannot inject markup)."""
    page = render_html([_report(tmp_path)], "QA <batch>")
    assert "是的&lt;script&gt;" in page and "<script>" not in page
    assert "QA &lt;batch&gt;" in page and "0/1 identical" in page

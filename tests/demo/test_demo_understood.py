"""The demo's "understood as intended" count: turns matched to the simulated borrower's lines by persona and time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.demo_understood import count_understood, sim_lines, sim_lines_of


def _log(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events) + "not json\n", "utf-8")
    return path


def _call(borrower: str, answered_at: float, turns: list[tuple[float, str, str]]) -> dict[str, Any]:
    return {"borrower_id": borrower, "disposition": "answered", "record": {"answered_at": answered_at, "turns": [
        {"event": "opening", "speech_start_s": None},
        *({"event": "utterance", "speech_start_s": s, "heard_text": h, "intent": i} for s, h, i in turns)]}}


def test_turns_are_matched_to_lines_and_intents_compared(tmp_path: Path) -> None:
    """Each utterance is judged against the line started last before it; a turn before any line is unmatched."""
    log = _log(tmp_path / "sim.jsonl", [
        {"event": "call.answered", "call": 1, "persona": "payer"},
        {"event": "call.answered", "call": 2, "persona": "busy"},
        {"event": "line.started", "call": 1, "persona": "payer", "text": "A", "t": 5.0},
        {"event": "line.started", "call": 2, "persona": "busy", "text": "B", "t": 4.0},
        {"event": "line.started", "call": 1, "persona": "payer", "text": "C", "t": 12.0},
    ])
    calls = [
        _call("b1", 100.0, [(1.0, "noise", "unknown"), (5.2, "a", "affirm"), (12.1, "x", "refuse")]),
        _call("b2", 101.0, [(4.3, "b", "busy")]),
    ]
    intents = {"A": "affirm", "B": "busy", "C": "promise_to_pay"}
    result = count_understood(calls, {"b1": "payer", "b2": "busy"}, sim_lines(log), intents.__getitem__)
    assert (result.turns, result.intended, result.unmatched) == (3, 2, 1)
    assert result.misses == [("C", "x", "promise_to_pay", "refuse")]
    assert "2/3" in result.describe()


def test_missing_log_counts_nothing(tmp_path: Path) -> None:
    """Without the sim phone's log no turn can be judged: all are unmatched, none is claimed understood."""
    calls = [_call("b1", 1.0, [(2.0, "a", "affirm")])]
    result = count_understood(calls, {"b1": "payer"}, sim_lines(tmp_path / "absent.jsonl"), lambda t: "affirm")
    assert (result.turns, result.intended, result.unmatched) == (0, 0, 1)


def test_logs_of_several_phones_are_read_apart_and_merged_by_persona(tmp_path: Path) -> None:
    """Call numbers restart in each sim phone's log: call 1 of phone 1 and of phone 2 are two calls, both kept."""
    one = _log(tmp_path / "sim-phone-1.jsonl", [
        {"event": "call.answered", "call": 1, "persona": "payer"},
        {"event": "line.started", "call": 1, "persona": "payer", "text": "A", "t": 5.0},
    ])
    two = _log(tmp_path / "sim-phone-2.jsonl", [
        {"event": "call.answered", "call": 1, "persona": "busy"},
        {"event": "line.started", "call": 1, "persona": "busy", "text": "B", "t": 4.0},
    ])
    lines = sim_lines_of([one, two, tmp_path / "absent.jsonl"])
    assert {p: [[ln.text for ln in call] for call in calls] for p, calls in lines.items()} == {
        "payer": [["A"]], "busy": [["B"]]}
    calls = [_call("b1", 100.0, [(5.2, "a", "affirm")]), _call("b2", 101.0, [(4.3, "b", "busy")])]
    result = count_understood(calls, {"b1": "payer", "b2": "busy"}, lines, {"A": "affirm", "B": "busy"}.__getitem__)
    assert (result.turns, result.intended, result.unmatched) == (2, 2, 0)

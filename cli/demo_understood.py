"""How many of a demo's borrower turns were understood as intended, when a real recognizer heard them.

With `server.py demo --recognizer whisper` the bot hears the simulated borrowers' espeak audio, not
their SIP INFO transcripts. The simulated phone logs every line it starts (`line.started`: call,
persona, text, time since answer) in the run's sim-phone.jsonl; each utterance turn of the bot's call
record is matched to the line that started last before it (same persona, k-th call of that persona
on both sides), and the turn counts as understood when the intent the dialogue acted on equals the
intent the classifier gives the line's clean text. So the figure measures what ASR errors cost the
conversation, not the classifier's own mistakes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MATCH_SLACK_S = 0.5  # the two sides' answer times differ by a few tens of ms; VAD starts ~100 ms in
MAX_LAG_S = 8.0  # a turn starting this long after the last line began is not that line


@dataclass(frozen=True)
class Line:
    text: str
    t: float


@dataclass
class Understood:
    turns: int = 0  # utterance turns matched to a line the persona said
    intended: int = 0  # of those, acted on with the intent of the clean text
    unmatched: int = 0  # utterance turns with no line (noise, echo, a split line's second half)
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # said, heard, intended, got

    def to_dict(self) -> dict[str, Any]:
        return {"turns": self.turns, "understood_as_intended": self.intended, "unmatched_turns": self.unmatched,
                "misses": [dict(zip(("said", "heard", "intended", "got"), m, strict=True)) for m in self.misses]}

    def describe(self) -> str:
        share = f" ({100 * self.intended / self.turns:.0f}%)" if self.turns else ""
        return (f"understood as intended: {self.intended}/{self.turns} borrower turns{share} "
                f"(intent from recognized speech = intent of the words the simulated borrower said; "
                f"{self.unmatched} turns matched no line)")


def sim_lines(log: Path) -> dict[str, list[list[Line]]]:
    """persona -> one list of lines per answered call, in call order, from the sim phone's JSONL log."""
    calls: dict[int, tuple[str, list[Line]]] = {}
    order: list[int] = []
    if not log.is_file():
        return {}
    for raw in log.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            continue
        seq, persona = event.get("call"), event.get("persona")
        if event.get("event") == "call.answered" and isinstance(seq, int) and persona:
            calls[seq] = (str(persona), [])
            order.append(seq)
        elif event.get("event") == "line.started" and seq in calls:
            calls[seq][1].append(Line(str(event.get("text", "")), float(event.get("t", 0.0))))
    by_persona: dict[str, list[list[Line]]] = {}
    for seq in order:
        persona, lines = calls[seq]
        by_persona.setdefault(persona, []).append(lines)
    return by_persona


def sim_lines_of(logs: Iterable[Path]) -> dict[str, list[list[Line]]]:
    """`sim_lines` of several sim phones' logs together (call numbers are per phone, so each log is read alone)."""
    merged: dict[str, list[list[Line]]] = {}
    for log in logs:
        for persona, calls in sim_lines(log).items():
            merged.setdefault(persona, []).extend(calls)
    return merged


def count_understood(
    calls: Iterable[dict[str, Any]], personas: dict[str, str], lines: dict[str, list[list[Line]]],
    intent_of: Callable[[str], str],
) -> Understood:
    """Match stored calls (answered, oldest first per persona) to the sim's calls and compare intents."""
    result = Understood()
    seen: dict[str, int] = {}
    answered = sorted((c for c in calls if c.get("disposition") == "answered"),
                      key=lambda c: (c.get("record") or {}).get("answered_at") or 0.0)
    for call in answered:
        persona = personas.get(str(call.get("borrower_id", "")), "?")
        k = seen.get(persona, 0)
        seen[persona] = k + 1
        said = lines.get(persona, [])
        call_lines = said[k] if k < len(said) else []
        for turn in (call.get("record") or {}).get("turns") or []:
            if turn.get("event") != "utterance" or turn.get("speech_start_s") is None:
                continue
            start = float(turn["speech_start_s"])
            before = [line for line in call_lines if line.t <= start + MATCH_SLACK_S]
            if not before or start - before[-1].t > MAX_LAG_S:
                result.unmatched += 1
                continue
            line = before[-1]
            result.turns += 1
            want, got = intent_of(line.text), str(turn.get("intent") or "")
            if want == got:
                result.intended += 1
            else:
                result.misses.append((line.text, str(turn.get("heard_text", "")), want, got))
    return result

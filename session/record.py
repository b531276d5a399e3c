"""What one call leaves behind: the call record and its turns, as plain frozen data.

The session produces these; the campaign store persists them and QA replay compares against them.
Keeping them here (below campaign/ and qa/) lets both use them without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TurnRecord:
    """One borrower turn and the bot's answer to it (index 0 is the bot's opening, heard_text empty)."""

    index: int
    speech_start_s: float | None  # call time of the borrower's speech (VAD), None for opening/no-input
    speech_end_s: float | None
    heard_text: str  # final recognized text ('' for no input)
    partials: int  # partial results seen before the final one
    intent: str | None
    confidence: float | None
    node: str  # dialogue node whose prompt answered this turn
    prompt_text: str
    interruptible: bool
    prompt_frames_total: int
    prompt_frames_played: int
    interrupted: bool  # a barge-in cut the prompt
    latency_ms: float | None  # end of borrower speech (VAD) -> first bot frame handed to the media bridge
    asr_latency_ms: float | None  # end of speech -> final transcript
    event: str = "utterance"  # utterance | no_input | dtmf | opening | machine
    prompt_parts: tuple[str, ...] = ()  # fragment ids and `$variable` names of the prompt (compliance audit)
    identity_confirmed: bool | None = None  # dialogue's view after this turn (None: not known)
    barge_in_s: float | None = None  # call time the barge-in cut this turn's prompt

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prompt_parts"] = list(self.prompt_parts)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRecord:
        """Inverse of `to_dict`; keys written by older versions may be missing (defaults apply)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if "prompt_parts" in values:
            values["prompt_parts"] = tuple(values["prompt_parts"])
        return cls(**values)


@dataclass(frozen=True)
class CallRecord:
    """Everything QA and the campaign need about one placed call."""

    call_id: str
    borrower_id: str
    attempt_id: str | None
    trunk: str | None
    script_set: str | None
    disposition: str  # SIP-level: answered, busy, no_answer, rejected, invalid_number, trunk_error, canceled
    sip_code: int | None
    sip_reason: str
    invite_sent_at: float  # unix time
    ringing_at: float | None
    answered_at: float | None
    ended_at: float | None
    hangup_by: str | None  # bot | remote | None
    end_reason: str
    recording: str | None
    outcome: dict[str, Any] | None  # dialogue.outcome.Outcome.to_dict() for answered calls
    turns: tuple[TurnRecord, ...] = field(default=())
    likely_machine: bool = False
    recognizer: str = "vosk"  # which recognizer heard the borrower ("sim" runs must say so)
    dtmf: str = ""
    direction: str = "outbound"  # "inbound": the borrower called our caller ID (issue 14)

    @property
    def duration_s(self) -> float:
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return max(0.0, self.ended_at - self.answered_at)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["turns"] = [t.to_dict() for t in self.turns]
        data["duration_s"] = self.duration_s
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        """Inverse of `to_dict` (QA reads stored records back through this)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["turns"] = tuple(TurnRecord.from_dict(t) for t in values.get("turns", ()))
        return cls(**values)

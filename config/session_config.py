"""`[session]` in server.toml: how one answered call turns speech into answers, beyond asr and dialogue."""

from __future__ import annotations

from dataclasses import dataclass

from config.toml_reader import Table


@dataclass(frozen=True)
class SessionConfig:
    early_endpointing: bool = True  # end a turn before the hangover when a partial is already a sure answer
    early_silence_ms: int = 200  # silence needed first (asr's hangover is 300; espeak comma pauses ~160)
    early_min_confidence: float = 0.85  # intent confidence of the partial that counts as "sure"
    early_confirm_ms: int = 260  # an early final is answered once the pause is this long (resumed speech joins it)
    hangup_on_machine: bool = True  # a likely answering machine ends the call without any debt detail


def parse_session(t: Table) -> SessionConfig:
    t.reject_unknown(list(SessionConfig.__dataclass_fields__))
    d = SessionConfig()
    silence_ms = t.integer("early_silence_ms", d.early_silence_ms, min=60, max=2000)
    confirm_ms = t.integer("early_confirm_ms", max(d.early_confirm_ms, silence_ms), min=60, max=2000)
    if confirm_ms < silence_ms:
        raise t.error("early_confirm_ms", f"at least early_silence_ms ({silence_ms})", confirm_ms)
    return SessionConfig(
        early_endpointing=t.boolean("early_endpointing", d.early_endpointing),
        early_silence_ms=silence_ms,
        early_min_confidence=t.number("early_min_confidence", d.early_min_confidence, min=0.5, max=1.0),
        early_confirm_ms=confirm_ms,
        hangup_on_machine=t.boolean("hangup_on_machine", d.hangup_on_machine),
    )

"""`[dialogue]` in server.toml: the limits every conversation keeps, whatever the script says."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from config.toml_reader import Table

DEFAULT_SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
DEFAULT_SEGMENTS_TOML = Path(__file__).resolve().parent / "segments.toml"


@dataclass(frozen=True)
class DialogueConfig:
    max_turns: int = 12  # borrower turns before the bot closes politely
    max_node_visits: int = 2  # the same prompt is never played more than this many times in one call
    max_no_input: int = 3  # silences in one call before it ends as no_response
    no_input_timeout_s: float = 6.0  # how long the session waits for speech before on_no_input()
    min_asr_confidence: float = 0.3  # below this the words are not trusted: treated as not understood
    min_intent_confidence: float = 0.3  # below this the intent counts as "other"
    scripts_dir: Path = DEFAULT_SCRIPTS_DIR
    segments_file: Path = DEFAULT_SEGMENTS_TOML
    # A callback time the borrower names is moved into this local window before it is read back
    # (C1 allows 08:00-22:00 at most; the default is the stricter window for unknown zones).
    callback_window_start: str = "08:00"
    callback_window_end: str = "21:00"
    # "明天下午" without a clock time: the hour called back for each part of day (inside the window).
    callback_morning: str = "10:00"
    callback_afternoon: str = "15:00"
    callback_evening: str = "19:00"
    # The script set that answers a borrower calling back our caller ID (issue 14; `direction = "inbound"`).
    inbound_script_set: str = "inbound_callback"

    @property
    def parts_of_day(self) -> dict[str, str]:
        return {"morning": self.callback_morning, "afternoon": self.callback_afternoon,
                "evening": self.callback_evening}

    @property
    def callback_window(self) -> tuple[dt.time, dt.time]:
        return dt.time.fromisoformat(self.callback_window_start), dt.time.fromisoformat(self.callback_window_end)


LEGAL_WINDOW = (dt.time(8, 0), dt.time(22, 0))  # COMPLIANCE C1: config can only make it stricter


def _clock(t: Table, key: str, default: str) -> str:
    text = t.string(key, default)
    try:
        moment = dt.time.fromisoformat(text)
    except ValueError:
        raise t.error(key, "a time of day HH:MM such as '15:00'", text) from None
    if not LEGAL_WINDOW[0] <= moment <= LEGAL_WINDOW[1]:
        raise t.error(key, "a time inside 08:00-22:00 (COMPLIANCE C1 can only be made stricter)", text)
    return moment.strftime("%H:%M")


def parse_dialogue(t: Table) -> DialogueConfig:
    t.reject_unknown(list(DialogueConfig.__dataclass_fields__))
    d = DialogueConfig()
    return DialogueConfig(
        max_turns=t.integer("max_turns", d.max_turns, min=3, max=50),
        max_node_visits=t.integer("max_node_visits", d.max_node_visits, min=1, max=2),
        max_no_input=t.integer("max_no_input", d.max_no_input, min=1, max=10),
        no_input_timeout_s=t.number("no_input_timeout_s", d.no_input_timeout_s, min=1, max=30),
        min_asr_confidence=t.number("min_asr_confidence", d.min_asr_confidence, min=0, max=1),
        min_intent_confidence=t.number("min_intent_confidence", d.min_intent_confidence, min=0, max=1),
        scripts_dir=Path(t.string("scripts_dir", str(d.scripts_dir))),
        segments_file=Path(t.string("segments_file", str(d.segments_file))),
        inbound_script_set=t.string("inbound_script_set", d.inbound_script_set),
        **_callback_times(t, d),
    )


def _callback_times(t: Table, d: DialogueConfig) -> dict[str, str]:
    start = _clock(t, "callback_window_start", d.callback_window_start)
    end = _clock(t, "callback_window_end", d.callback_window_end)
    if end <= start:
        raise t.error("callback_window_end", f"a time after callback_window_start ({start})", end)
    out = {"callback_window_start": start, "callback_window_end": end}
    for key in ("callback_morning", "callback_afternoon", "callback_evening"):
        value = _clock(t, key, getattr(d, key))
        if not start <= value < end:
            raise t.error(key, f"a time inside the callback window {start}-{end}", value)
        out[key] = value
    return out

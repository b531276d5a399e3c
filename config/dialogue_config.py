"""`[dialogue]` in server.toml: the limits every conversation keeps, whatever the script says."""

from __future__ import annotations

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
    )

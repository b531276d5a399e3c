"""Persona definitions for the simulated borrower, loaded from `sim/personas.toml` and a number map.

Personas are data so that people writing test scenarios edit TOML, not code; the file is validated
on load with the same `ConfigError` messages (file, key, expectation) as the server's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.errors import ConfigError
from config.toml_reader import Table, load_toml

DEFAULT_PERSONAS_TOML = Path(__file__).resolve().parent / "personas.toml"

WHEN_CHOICES = ("after_bot", "during_bot", "on_answer")
ANSWER_CHOICES = ("answer", "busy", "reject", "no_answer")
# SIP final responses for personas that never pick up.
REFUSAL_CODES = {"busy": 486, "reject": 603}


@dataclass(frozen=True)
class PersonaLine:
    text: str
    when: str = "after_bot"  # after_bot | during_bot | on_answer
    delay_ms: int = 0


@dataclass(frozen=True)
class Persona:
    name: str
    description: str
    lines: tuple[PersonaLine, ...]
    answer: str = "answer"
    ring_ms: int = 300
    hangup_after_last: bool = False


@dataclass(frozen=True)
class VoiceSettings:
    voice: str = "cmn"
    speed_wpm: int = 175


@dataclass(frozen=True)
class PersonaBook:
    """All personas plus the defaults that apply to every call."""

    source: Path
    personas: dict[str, Persona]
    voice: VoiceSettings
    reply_gap_ms: tuple[int, int]
    max_call_s: float

    def get(self, name: str) -> Persona:
        try:
            return self.personas[name]
        except KeyError:
            known = ", ".join(sorted(self.personas))
            raise ConfigError(self.source, "personas", f"a persona named {name!r} (known: {known})") from None


def load_personas(path: Path | str = DEFAULT_PERSONAS_TOML) -> PersonaBook:
    root = load_toml(path)
    root.reject_unknown(["defaults", "personas"])
    defaults = root.table("defaults")
    defaults.reject_unknown(["voice", "speed_wpm", "reply_gap_ms", "ring_ms", "max_call_s"])
    gap = _gap(defaults)
    ring_ms = defaults.integer("ring_ms", 300, min=0, max=60_000)
    personas: dict[str, Persona] = {}
    for t in root.tables("personas"):
        persona = _persona(t, ring_ms)
        if persona.name in personas:
            raise t.error("name", "a persona name used once", persona.name)
        personas[persona.name] = persona
    if not personas:
        raise root.error("personas", "at least one [[personas]] entry")
    return PersonaBook(
        source=root.file,
        personas=personas,
        voice=VoiceSettings(
            voice=defaults.string("voice", "cmn"),
            speed_wpm=defaults.integer("speed_wpm", 175, min=80, max=450),
        ),
        reply_gap_ms=gap,
        max_call_s=defaults.number("max_call_s", 120.0, min=1, max=3600),
    )


def _gap(t: Table) -> tuple[int, int]:
    value = t.data.get("reply_gap_ms", [250, 400])
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 <= value[0] <= value[1] <= 5000
    ):
        raise t.error("reply_gap_ms", "[low, high] in milliseconds with 0 <= low <= high <= 5000", value)
    return int(value[0]), int(value[1])


def _persona(t: Table, default_ring_ms: int) -> Persona:
    t.reject_unknown(["name", "description", "answer", "ring_ms", "hangup_after_last", "lines"])
    name = t.string("name")
    if not name or not name.replace("_", "").isalnum() or not name.isascii():
        raise t.error("name", "an ASCII identifier (letters, digits, _) usable as a SIP user part", name)
    if "lines" not in t:
        raise t.error("lines", "a list of lines ([] for a silent callee)")
    lines = tuple(_line(lt) for lt in t.tables("lines"))
    answer = t.string("answer", "answer", choices=ANSWER_CHOICES)
    if answer != "answer" and lines:
        raise t.error("lines", f"no lines for a persona that does not answer (answer = {answer!r})")
    return Persona(
        name=name,
        description=t.string("description", ""),
        lines=lines,
        answer=answer,
        ring_ms=t.integer("ring_ms", default_ring_ms, min=0, max=60_000),
        hangup_after_last=t.boolean("hangup_after_last", False),
    )


def _line(t: Table) -> PersonaLine:
    t.reject_unknown(["text", "when", "delay_ms"])
    text = t.string("text").strip()
    if not text:
        raise t.error("text", "non-empty words to say")
    return PersonaLine(
        text=text,
        when=t.string("when", "after_bot", choices=WHEN_CHOICES),
        delay_ms=t.integer("delay_ms", 0, min=0, max=60_000),
    )


def load_number_map(path: Path | str, book: PersonaBook) -> dict[str, str]:
    """`[numbers]` table: dialed user part -> persona name; every persona must exist in `book`."""
    root = load_toml(path)
    root.reject_unknown(["numbers"])
    numbers = root.table("numbers", required=True)
    mapping: dict[str, str] = {}
    for number in numbers.data:
        persona = numbers.string(number)
        if persona not in book.personas:
            known = ", ".join(sorted(book.personas))
            raise numbers.error(number, f"a persona name from {book.source.name} ({known})", persona)
        mapping[number] = persona
    return mapping


def number_spellings(user_part: str) -> list[str]:
    """The dialed user part and its national form: `+8613900000001` also matches `13900000001`."""
    spellings = [user_part]
    for prefix in ("+86", "0086", "86", "+"):
        if user_part.startswith(prefix) and len(user_part) > len(prefix) + 6:
            spellings.append(user_part[len(prefix) :])
    return spellings


def choose_persona(user_part: str, book: PersonaBook, numbers: dict[str, str]) -> Persona | None:
    """The persona behind a dialed number: number map first, then a user part naming a persona."""
    for spelling in number_spellings(user_part):
        if spelling in numbers:
            return book.personas[numbers[spelling]]
    return book.personas.get(user_part)

"""What the bot says, as data: recorded fragments and typed variables, never audio.

The dialogue decides *what* is said; `prompts/` decides *how it sounds* (recordings for fragments,
TTS with Chinese number reading for variables). Keeping values typed (`money`, `date`, ...) lets the
prompt renderer read `3200.5` as money and `2026-11-16` as a date without parsing display text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

VARIABLE_KINDS = frozenset({"text", "money", "date", "count", "digits"})

# Variables that are debt details under C6: never rendered before identity is confirmed. The mediation
# organisation and its number tell a listener the case went to mediation, so they count too.
DEBT_VARIABLES = frozenset({
    "amount", "overdue_days", "due_date", "product", "ptp_amount", "mediator", "mediator_phone",
})


@dataclass(frozen=True)
class Fragment:
    """A recorded piece of a prompt; `text` comes from the fragment catalogue and is what was recorded."""

    id: str
    text: str


@dataclass(frozen=True)
class Variable:
    """A value spoken by TTS. `display` is the text form chosen by the script library's display formats."""

    name: str
    value: object
    kind: str
    display: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in VARIABLE_KINDS:
            raise ValueError(f"variable {self.name!r}: kind must be one of {sorted(VARIABLE_KINDS)}, got {self.kind!r}")

    @property
    def display_text(self) -> str:
        if self.display is not None:
            return self.display
        return default_display(self.value, self.kind)


def default_display(value: object, kind: str) -> str:
    """Plain text for a value when no display format is configured (digits only, no words)."""
    if kind == "money" and isinstance(value, int | float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if kind == "date" and isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Prompt:
    """One thing the bot says in one go; `node` is the dialogue node it answers from (for call records)."""

    parts: tuple[Fragment | Variable, ...]
    node: str
    interruptible: bool

    @property
    def text(self) -> str:
        return "".join(p.text if isinstance(p, Fragment) else p.display_text for p in self.parts)

    @property
    def fragment_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parts if isinstance(p, Fragment))

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if isinstance(p, Variable))

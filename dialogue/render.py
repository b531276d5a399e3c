"""Node prompt -> Prompt parts, behind the C6 disclosure guard.

The guard sits here, at the only place prompt parts are built, so no script (even one loaded without
the linter) can make the bot say a debt detail before the borrower's identity is confirmed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from dialogue.prompt import DEBT_VARIABLES, Fragment, Prompt, Variable
from dialogue.scripts import VARIABLES, DisplayFormats, Node, ScriptLibrary, ScriptSet, variable_item
from telemetry.logging import log_event

log = logging.getLogger("dialogue.render")


class ComplianceRefused(ValueError):
    """The engine refused to say something a compliance rule forbids; `rule` is the COMPLIANCE.md number."""

    def __init__(self, rule: str, node: str, reason: str) -> None:
        self.rule = rule
        self.node = node
        self.reason = reason
        super().__init__(f"{rule} refused at {node}: {reason}")


class PromptValueMissing(ValueError):
    """A prompt names a call slot (e.g. {ptp_date}) that nothing has filled yet: a script bug, not a borrower's."""


class DisclosureRefused(ComplianceRefused):
    """C6: a debt detail was about to be said before identity confirmation."""

    def __init__(self, node: str, reason: str) -> None:
        super().__init__("C6", node, reason)


def prompt_for(
    library: ScriptLibrary,
    set_id: str,
    node_key: str,
    borrower: Any,
    today: dt.date,
    *,
    identity_confirmed: bool = True,
    slots: Mapping[str, object] | None = None,
) -> Prompt:
    """The exact Prompt a call plays at one node of `library` (one node only; `then` chains are the engine's job).

    Debt details still pass the C6 guard, so `identity_confirmed=False` refuses them here as well.
    """
    script_set = library.script_set(set_id)
    if "/" not in node_key or node_key.partition("/")[0] not in library.scenes:
        raise KeyError(f"unknown node {node_key!r}; use scene/node, e.g. identity_check/ask")
    scene_id, _, node_id = node_key.partition("/")
    if node_id not in library.scenes[scene_id].nodes:
        raise KeyError(f"scene {scene_id!r} has no node {node_id!r}")
    node = library.node(node_key)
    parts = render_node(library, script_set, node, borrower, today, identity_confirmed, dict(slots or {}))
    return Prompt(parts, node_key, node.interruptible)


def render_node(
    library: ScriptLibrary,
    script_set: ScriptSet,
    node: Node,
    borrower: Any,
    today: dt.date,
    identity_confirmed: bool,
    slots: Mapping[str, object],
    items: tuple[str, ...] | None = None,
) -> tuple[Fragment | Variable, ...]:
    """The node's prompt (or `items`, e.g. its re-ask wording) as parts; refuses debt details before identity."""
    parts: list[Fragment | Variable] = []
    for item in node.prompt if items is None else items:
        name = variable_item(item)
        if name is None:
            parts.append(library.fragment(item, script_set))
        else:
            parts.append(variable(name, borrower, today, slots, library.display, node.key))
    if not identity_confirmed:
        guard_disclosure(parts, library.compliance.debt_words, node.key)
    return tuple(parts)


def guard_disclosure(parts: Sequence[Fragment | Variable], debt_words: tuple[str, ...], node: str) -> None:
    """Raise (and log the refusal) if any part is a debt detail; call only before identity is confirmed."""
    for part in parts:
        if isinstance(part, Variable) and part.name in DEBT_VARIABLES:
            _refuse(node, f"variable {{{part.name}}} is a debt detail")
        if isinstance(part, Fragment):
            for word in debt_words:
                if word in part.text:
                    _refuse(node, f"fragment {part.id!r} contains a debt word")


def _refuse(node: str, reason: str) -> None:
    log_event(log, "dialogue.compliance_refused", logging.WARNING, rule="C6", node=node, reason=reason)
    raise DisclosureRefused(node, reason)


def variable(
    name: str, borrower: Any, today: dt.date, slots: Mapping[str, object], display: DisplayFormats, node: str
) -> Variable:
    """Look a variable up in the borrower record / call slots and give it its display text."""
    kind = VARIABLES[name]
    value: object
    if name in ("company", "creditor"):
        value = borrower.creditor
    elif name == "name":
        value = borrower.name
    elif name == "honorific":
        fmt = getattr(display, f"honorific_{borrower.gender}", display.honorific_unknown)
        value = fmt.format(name=borrower.name, surname=display.surname(borrower.name))
    elif name == "amount":
        value = borrower.amount_due
    elif name in ("due_date", "overdue_days", "product"):
        value = getattr(borrower, name)
    elif name == "today":
        value = today
    elif name == "phone_tail":
        value = borrower.phone[-4:]
    elif name in ("mediator", "mediator_phone"):
        value = getattr(borrower, name)
        if value is None:  # not a case in mediation: the engine closes politely (logged), never guesses
            raise PromptValueMissing(f"{node}: variable {{{name}}}: the borrower record has no {name}")
    else:
        value = slots.get(name)
        if value is None:
            raise PromptValueMissing(f"{node}: variable {{{name}}} has no value yet (capture or fill it first)")
    return Variable(name, value, kind, display_text(value, kind, display))


def display_text(value: object, kind: str, display: DisplayFormats) -> str:
    if kind == "date" and isinstance(value, dt.date):
        day = display.date.format(year=value.year, month=value.month, day=value.day)
        return f"{day} {value:%H:%M}" if isinstance(value, dt.datetime) else day
    if kind == "money" and isinstance(value, int | float):
        return display.money.format(value=f"{value:.2f}".rstrip("0").rstrip("."))
    return str(value)


__all__ = [
    "DEBT_VARIABLES", "ComplianceRefused", "DisclosureRefused", "PromptValueMissing", "guard_disclosure",
    "render_node", "variable",
]

"""Which audio to prepare ahead of time, read from the script library, so the first turn is warm.

Two moments: when a campaign starts, every fixed fragment its script sets can play is rendered at
the call rate (`prerender_script_sets`); when a call is placed, the borrower's variables (name,
amount, due date, ...) are synthesized (`prepare_borrower`). Both block on TTS or file work, so
callers run them on a worker thread, not the reactor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from dialogue.prompt import Variable
from dialogue.render import PromptValueMissing, variable
from dialogue.scripts import SLOT_NAMES, VARIABLES, ScriptLibrary
from prompts.renderer import PromptRenderer


def fixed_fragment_ids(library: ScriptLibrary, set_ids: Iterable[str]) -> set[str]:
    """Fragments (after each set's wording overrides) any node or engine role of these sets can play."""
    ids: set[str] = set()
    for set_id in set_ids:
        needs = library.prompt_needs(set_id)
        wording = library.script_sets[set_id].wording
        for need in needs:
            ids.update(item for item in need.items if not item.startswith("{"))
        ids.update(wording.get(frag, frag) for frag in library.engine_fragments.values())
    return ids


def borrower_variables(library: ScriptLibrary, set_id: str, borrower: Any, today: dt.date) -> list[Variable]:
    """Every variable the set's prompts can say that is known before the call (not captured slots)."""
    names: dict[str, str] = {}
    for need in library.prompt_needs(set_id):
        for name in need.variables:
            names.setdefault(name, need.node)
    out: list[Variable] = []
    for name, node in names.items():
        try:
            out.append(variable(name, borrower, today, {}, library.display, node))
        except PromptValueMissing:
            continue  # a slot the borrower will give us (promise date, amount): rendered when said
    return out


def prerender_script_sets(
    renderer: PromptRenderer,
    library: ScriptLibrary,
    set_ids: Iterable[str],
    rate: int,
    *,
    today: dt.date | None = None,
    date_days: int = 45,
) -> int:
    """Fixed fragments, plus (with `today`) the dates a borrower may name in the coming `date_days`.

    A promise or callback date is heard mid-call and confirmed at once ("您是说十二月五日还款，对吗？");
    the words for a date are the same for every borrower, so rendering the next weeks' dates once per
    campaign keeps that confirmation off the TTS path. Returns fragments + dates newly prepared.
    """
    set_ids = list(set_ids)
    made = renderer.prerender(sorted(fixed_fragment_ids(library, set_ids)), rate)
    if today is not None and _speaks_date_slots(library, set_ids):
        days = [today + dt.timedelta(days=n) for n in range(date_days + 1)]
        made += renderer.prepare([Variable("date", day, "date") for day in days], rate)
    return made


def _speaks_date_slots(library: ScriptLibrary, set_ids: list[str]) -> bool:
    return any(
        VARIABLES.get(name) == "date" and name in SLOT_NAMES
        for set_id in set_ids
        for need in library.prompt_needs(set_id)
        for name in need.variables
    )


def prepare_borrower(
    renderer: PromptRenderer, library: ScriptLibrary, set_id: str, borrower: Any, today: dt.date, rate: int
) -> int:
    return renderer.prepare(borrower_variables(library, set_id, borrower, today), rate)

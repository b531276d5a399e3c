"""The script library: fragments, scenes and script sets read from TOML and checked for structure.

Layout of `config/scripts/` (format documented for script writers in docs/dialogue.md):
- `fragments.toml`  `[fragments]` id -> recorded text; `[display]` how variables appear as text
- `compliance.toml` word lists and phrases the linter and the run-time guard enforce (C4-C12)
- `library.toml`    global handlers (intent -> scene), default exits, engine fragments
- `scenes/*.toml`   `[scenes.ID]` reusable sub-flows made of nodes
- `sets/*.toml`     one script set per file: start scene, exits, wording and handler overrides

Loading checks structure (every reference resolves, every key is known); compliance checks over the
whole graph live in `dialogue.lint`, and the run-time disclosure guard in `dialogue.render`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.toml_reader import Table, load_toml
from dialogue.prompt import Fragment

DEFAULT_SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "config" / "scripts"

# The classifier's labels (dialogue.intents.INTENTS; a test keeps the two equal without importing numpy here).
INTENT_LABELS = (
    "affirm", "deny", "wrong_number", "third_party", "promise_to_pay", "already_paid", "refuse_to_pay",
    "hardship", "negotiate", "ask_amount", "ask_payment_method", "ask_caller", "dispute", "complaint",
    "stop_calling", "busy", "repeat", "request_agent", "greeting", "other",
)
# Handlers the engine owns for compliance (C7, C9, C12): no node or script set may reroute these.
PROTECTED_INTENTS = ("ask_caller", "complaint", "stop_calling")
# Global handlers every node gets unless it overrides them (protected ones cannot be overridden).
GLOBAL_HANDLER_INTENTS = (
    "repeat", "ask_caller", "complaint", "stop_calling", "request_agent", "wrong_number", "busy", "dispute",
)
DISPOSITIONS_OR_AUTO = (
    "promise_to_pay", "already_paid", "hardship", "negotiation", "refused", "wrong_number", "third_party",
    "callback", "complaint", "opt_out", "dispute", "no_response", "transferred", "hung_up", "auto",
)
SLOT_NAMES = ("ptp_date", "ptp_amount", "callback_at")
# What a decision node may test with have/missing: the slots, and whether the engine moved a callback
# time into the call window (so the read-back can say the time is not the one asked for).
ROUTE_NAMES = (*SLOT_NAMES, "callback_moved", "pursued")
# `pursuit`: this node asks for a promise after a refusal, hardship, negotiation or vague reply;
# routes test `pursued` so a call makes at most one such attempt (issue 12).
FLAGS = ("complaint", "opt_out", "ptp_confirmed", "callback_requested", "pursuit", "mediation_consent",
         "mediation_declined")
# Variable name -> kind. `company` is the creditor's name as spoken (same value, kept for script wording).
VARIABLES: dict[str, str] = {
    "name": "text", "honorific": "text", "company": "text", "creditor": "text", "amount": "money",
    "due_date": "date", "overdue_days": "count", "product": "text", "ptp_date": "date", "ptp_amount": "money",
    "callback_at": "date", "today": "date", "phone_tail": "digits", "mediator": "text", "mediator_phone": "digits",
}
FILL_SOURCES = ("amount", "due_date", "today")  # borrower/call values a node may copy into an empty slot
# Back to the question a global handler interrupted: `@return` listens again without re-asking a question
# already asked twice; `@again` always re-asks it (a repeat request), so a third time closes the call.
RETURN_TARGETS = ("@return", "@again")
_ID = re.compile(r"[a-z][a-z0-9_]*")
_VAR = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Route:
    """One branch of a decision node: taken when every condition holds."""

    go: str
    have: tuple[str, ...] = ()  # slots that must be filled
    missing: tuple[str, ...] = ()  # slots that must be empty
    identity: bool | None = None  # identity confirmed (True) / not yet (False) / either (None)
    agent: bool | None = None  # a human agent can take a transfer on this call (True) / cannot (False) / either


@dataclass(frozen=True)
class Node:
    scene: str
    id: str
    prompt: tuple[str, ...] = ()  # fragment ids and "{variable}" items
    reask: tuple[str, ...] = ()  # shorter wording when the question is asked again after a side question
    interruptible: bool = True
    then: str | None = None  # continue without waiting for the borrower
    on: Mapping[str, str] = field(default_factory=dict)  # intent -> target
    dtmf: Mapping[str, str] = field(default_factory=dict)  # key -> target
    routes: tuple[Route, ...] = ()
    otherwise: str | None = None  # decision nodes: target when no route matches
    capture: tuple[str, ...] = ()  # slots this node listens for (dates, amounts)
    filled: str | None = None  # target when the reply filled a captured slot, whatever the intent
    fill: Mapping[str, str] = field(default_factory=dict)  # slot -> source, copied when the slot is empty
    no_match: str | None = None
    no_input: str | None = None
    retries: int = 1
    end: str | None = None  # disposition (or "auto") of a terminal node
    transfer: bool = False
    unavailable: str | None = None  # transfer nodes: where to go when no human agent is reachable (C9)
    confirms_identity: bool = False
    flags: tuple[str, ...] = ()
    mark: str | None = None  # disposition to use if the call later ends without a firmer one

    @property
    def key(self) -> str:
        return f"{self.scene}/{self.id}"

    @property
    def spoken(self) -> tuple[str, ...]:
        """Every item this node can say (prompt and re-ask wording), for checks over all wording."""
        return self.prompt + self.reask

    @property
    def is_decision(self) -> bool:
        return bool(self.routes) or self.otherwise is not None

    @property
    def is_terminal(self) -> bool:
        return self.end is not None or self.transfer

    @property
    def waits(self) -> bool:
        """True when the bot stops here and listens for the borrower."""
        return not (self.is_decision or self.is_terminal or self.then is not None)


@dataclass(frozen=True)
class Scene:
    id: str
    title: str
    entry: str
    nodes: Mapping[str, Node]
    source: Path


@dataclass(frozen=True)
class ScriptSet:
    id: str
    title: str
    description: str
    start: str  # scene id
    exits: Mapping[str, str]  # exit name -> target (library defaults merged in)
    handlers: Mapping[str, str]  # intent -> target (library defaults merged in)
    wording: Mapping[str, str]  # fragment id -> replacement fragment id
    source: Path
    direction: str = "outbound"  # "inbound": answers a borrower calling us back (issue 14)


@dataclass(frozen=True)
class ComplianceLists:
    """Word lists kept as data so compliance staff can extend them without a code change."""

    recording_notice: str  # C5 phrase the opening must contain
    purpose: tuple[str, ...]  # C4: the opening states why we call with one of these (no debt word: C6)
    ai_disclosure: tuple[str, ...]  # C12: any of these answers "are you a robot?" truthfully
    debt_words: tuple[str, ...]  # C6: never spoken before identity is confirmed
    forbidden: tuple[str, ...]  # C8: never spoken at all
    source: Path


@dataclass(frozen=True)
class DisplayFormats:
    date: str = "{year}-{month:02d}-{day:02d}"
    money: str = "{value}"
    honorific_male: str = "{name}"
    honorific_female: str = "{name}"
    honorific_unknown: str = "{name}"
    compound_surnames: tuple[str, ...] = ()  # two-character surnames (Ouyang, Sima, ...) kept whole

    def surname(self, name: str) -> str:
        return next((s for s in self.compound_surnames if name.startswith(s) and len(name) > len(s)), name[:1])


@dataclass(frozen=True)
class PromptNeeds:
    """One prompt a script set can play, with what a pre-renderer needs to know about it."""

    node: str  # scene/node
    items: tuple[str, ...]  # fragment ids (after wording overrides) and "{variable}" items
    variables: tuple[str, ...]  # borrower/call variables it needs; empty means the audio is fixed
    interruptible: bool


@dataclass(frozen=True)
class ScriptLibrary:
    root: Path
    fragments: Mapping[str, str]
    display: DisplayFormats
    compliance: ComplianceLists
    scenes: Mapping[str, Scene]
    script_sets: Mapping[str, ScriptSet]
    engine_fragments: Mapping[str, str]  # role (reprompt, no_input, loop_close, ...) -> fragment id
    # library.toml [replies] vague ("I'll think about it"): not a misunderstanding, so no "sorry, I did not
    # catch that" re-ask; the node's no_match target is taken at once (a pursuit attempt, issue 12).
    vague_phrases: tuple[str, ...] = ()

    # --- graph access -------------------------------------------------------------------------

    def node(self, key: str) -> Node:
        scene, _, node = key.partition("/")
        return self.scenes[scene].nodes[node]

    def resolve(self, target: str, here: Node | None, script_set: ScriptSet) -> str | None:
        """Target text -> `scene/node` key; None for `@return`/`@again` (the engine knows where to return)."""
        if target in RETURN_TARGETS:
            return None
        if target.startswith("@"):
            return self.resolve(script_set.exits[target[1:]], None, script_set)
        if "/" in target:
            return target
        if here is not None and target in self.scenes[here.scene].nodes:
            return f"{here.scene}/{target}"
        return f"{target}/{self.scenes[target].entry}"

    def handler_for(self, intent: str, node: Node, script_set: ScriptSet) -> tuple[str | None, bool]:
        """(target, via_global): protected intents always go to the set's (library) handler."""
        if intent not in PROTECTED_INTENTS and intent in node.on:
            return node.on[intent], False
        if intent in script_set.handlers:
            return script_set.handlers[intent], True
        return None, False

    def nodes(self) -> Iterator[Node]:
        for scene in self.scenes.values():
            yield from scene.nodes.values()

    def successors(self, node: Node, script_set: ScriptSet) -> list[str]:
        """Node keys one step from `node` in this set: its own transitions, then (if it listens) the handlers."""
        keys = [self.resolve(t, node, script_set) for _, t in _node_targets(node)]
        if node.waits:
            handlers = (*script_set.handlers.values(), "@no_match", "@no_input")
            keys += [self.resolve(t, None, script_set) for t in handlers]
        return [k for k in keys if k is not None]

    def reachable(self, set_id: str) -> list[str]:
        """Every node a call with this script set can reach, in breadth-first order from its start."""
        script_set = self.script_set(set_id)
        start = self.resolve(script_set.start, None, script_set)
        seen: dict[str, None] = {}
        queue = [start] if start else []
        while queue:
            key = queue.pop(0)
            if key not in seen:
                seen[key] = None
                queue.extend(self.successors(self.node(key), script_set))
        return list(seen)

    # --- prompts ------------------------------------------------------------------------------

    def fragment(self, fragment_id: str, script_set: ScriptSet | None = None) -> Fragment:
        actual = script_set.wording.get(fragment_id, fragment_id) if script_set else fragment_id
        return Fragment(actual, self.fragments[actual])

    def prompt_needs(self, set_id: str) -> tuple[PromptNeeds, ...]:
        """Every prompt a script set can play; fixed ones (no variables) can be rendered ahead of time."""
        script_set = self.script_set(set_id)
        needs = []
        for node in (self.node(key) for key in self.reachable(set_id)):
            for wording in (node.prompt, node.reask):
                if not wording:
                    continue
                items = tuple(item if item.startswith("{") else script_set.wording.get(item, item) for item in wording)
                variables = tuple(name for i in items if (name := variable_item(i)) is not None)
                needs.append(PromptNeeds(node.key, items, variables, node.interruptible))
        return tuple(needs)

    def script_set(self, set_id: str) -> ScriptSet:
        """The script set, or KeyError naming the known ones."""
        if set_id not in self.script_sets:
            raise KeyError(f"unknown script set {set_id!r} (known: {', '.join(sorted(self.script_sets))})")
        return self.script_sets[set_id]


# --- loading ----------------------------------------------------------------------------------


def load_script_library(path: Path | str = DEFAULT_SCRIPTS_DIR) -> ScriptLibrary:
    """Read and cross-check the whole library; any bad file raises `ConfigError` (file, key, expectation)."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(root, "", "a directory holding fragments.toml, compliance.toml, library.toml, scenes/, sets/")
    fragments, display = _load_fragments(root / "fragments.toml")
    compliance = _load_compliance(root / "compliance.toml")
    lib = load_toml(root / "library.toml")
    lib.reject_unknown(["handlers", "exits", "engine", "replies"])
    replies = lib.table("replies")
    replies.reject_unknown(["vague"])
    vague: tuple[str, ...] = replies.strings("vague", ())
    scenes: dict[str, Scene] = {}
    for file in sorted((root / "scenes").glob("*.toml")):
        for scene in _load_scenes(file):
            if scene.id in scenes:
                earlier = scenes[scene.id].source
                raise ConfigError(file, f"scenes.{scene.id}", f"a scene id not already used in {earlier}")
            scenes[scene.id] = scene
    if not scenes:
        raise ConfigError(root / "scenes", "", "at least one scenes/*.toml file with [scenes.ID] tables")
    default_handlers = _target_table(lib.table("handlers", required=True), allowed=INTENT_LABELS)
    for intent in GLOBAL_HANDLER_INTENTS:
        if intent not in default_handlers:
            raise lib.error(f"handlers.{intent}", "a global handler target for this intent (required)")
    default_exits = _target_table(lib.table("exits"), allowed=None)
    engine = lib.table("engine", required=True)
    engine_roles = ("reprompt", "no_input", "loop_close", "turn_cap_close", "refusal_close")
    engine.reject_unknown(engine_roles)
    engine_fragments = {role: engine.string(role) for role in engine_roles}
    for role, frag in engine_fragments.items():
        if frag not in fragments:
            raise engine.error(role, "a fragment id from fragments.toml", frag)
    sets: dict[str, ScriptSet] = {}
    for file in sorted((root / "sets").glob("*.toml")):
        script_set = _load_set(file, default_handlers, default_exits)
        if script_set.id in sets:
            raise ConfigError(file, "id", f"a script set id not already used in {sets[script_set.id].source}")
        sets[script_set.id] = script_set
    if not sets:
        raise ConfigError(root / "sets", "", "at least one sets/*.toml script set")
    library = ScriptLibrary(root, fragments, display, compliance, scenes, sets, engine_fragments, vague)
    _check_references(library, lib)
    return library


def _load_fragments(file: Path) -> tuple[dict[str, str], DisplayFormats]:
    t = load_toml(file)
    t.reject_unknown(["fragments", "display"])
    frag_table = t.table("fragments", required=True)
    fragments: dict[str, str] = {}
    for key in list(frag_table.keys()):
        text = frag_table.string(key)
        if not _ID.fullmatch(key):
            raise frag_table.error(key, "a fragment id of lower-case letters, digits and _", key)
        if not text.strip() or "{" in text or "}" in text:
            expected = "non-empty recorded text without {variables} (put variables in the node prompt)"
            raise frag_table.error(key, expected, text)
        fragments[key] = text
    d = t.table("display")
    defaults = DisplayFormats()
    d.reject_unknown(list(DisplayFormats.__dataclass_fields__))
    formats = {k: d.string(k, getattr(defaults, k)) for k in DisplayFormats.__dataclass_fields__
               if k != "compound_surnames"}
    display = DisplayFormats(**formats, compound_surnames=d.strings("compound_surnames", ()))
    samples: dict[str, dict[str, Any]] = {
        "date": {"year": 2026, "month": 1, "day": 2},
        "money": {"value": "1.5"},
        "honorific_male": {"name": "x", "surname": "x"},
        "honorific_female": {"name": "x", "surname": "x"},
        "honorific_unknown": {"name": "x", "surname": "x"},
    }
    for key, sample in samples.items():
        try:
            getattr(display, key).format(**sample)
        except (KeyError, IndexError, ValueError) as exc:
            names = ", ".join("{" + n + "}" for n in sample)
            raise d.error(key, f"a format using only {names} ({exc})", getattr(display, key)) from None
    return fragments, display


def _load_compliance(file: Path) -> ComplianceLists:
    t = load_toml(file)
    t.reject_unknown(["recording_notice", "purpose", "ai_disclosure", "debt_words", "forbidden"])
    lists = ComplianceLists(
        recording_notice=t.string("recording_notice"),
        purpose=t.strings("purpose"),
        ai_disclosure=t.strings("ai_disclosure"),
        debt_words=t.strings("debt_words"),
        forbidden=t.strings("forbidden"),
        source=file,
    )
    for key in ("purpose", "ai_disclosure", "debt_words", "forbidden"):
        if not getattr(lists, key) or not all(w.strip() for w in getattr(lists, key)):
            raise t.error(key, "a non-empty list of non-empty phrases")
    for phrase in lists.purpose:
        word = next((w for w in lists.debt_words if w in phrase), None)
        if word is not None:
            raise t.error("purpose", f"purpose phrases said before identity, without debt words (C6: {word!r})", phrase)
    return lists


def _target_table(t: Table, allowed: tuple[str, ...] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in list(t.keys()):
        if allowed is not None and key not in allowed:
            raise t.error(key, "one of the intent labels " + ", ".join(allowed), key)
        out[key] = t.string(key)
    return out


_NODE_KEYS = [
    "prompt", "reask", "interruptible", "then", "on", "dtmf", "route", "otherwise", "capture", "filled", "fill",
    "no_match", "no_input", "retries", "end", "transfer", "confirms_identity", "flags", "mark", "unavailable",
]


def _load_scenes(file: Path) -> list[Scene]:
    t = load_toml(file)
    t.reject_unknown(["scenes"])
    scenes_t = t.table("scenes", required=True)
    out = []
    for scene_id in list(scenes_t.keys()):
        if not _ID.fullmatch(scene_id):
            raise scenes_t.error(scene_id, "a scene id of lower-case letters, digits and _", scene_id)
        st = scenes_t.table(scene_id)
        st.reject_unknown(["title", "entry", "nodes"])
        nodes_t = st.table("nodes", required=True)
        nodes = {node_id: _load_node(scene_id, node_id, nodes_t.table(node_id)) for node_id in list(nodes_t.keys())}
        entry = st.string("entry")
        if entry not in nodes:
            raise st.error("entry", "the id of a node in this scene (known: " + ", ".join(nodes) + ")", entry)
        out.append(Scene(scene_id, st.string("title"), entry, nodes, file))
    return out


def _load_node(scene: str, node_id: str, t: Table) -> Node:
    t.reject_unknown(_NODE_KEYS)
    if not _ID.fullmatch(node_id):
        raise t.error("", "a node id of lower-case letters, digits and _", node_id)
    prompt, reask = t.strings("prompt", ()), t.strings("reask", ())
    for key, items in (("prompt", prompt), ("reask", reask)):
        for item in items:
            m = _VAR.fullmatch(item)
            if item.startswith("{") and (m is None or m.group(1) not in VARIABLES):
                known = ", ".join("{" + v + "}" for v in VARIABLES)
                raise t.error(key, "fragment ids or variables among " + known, item)
    on = _target_table(t.table("on"), allowed=INTENT_LABELS)
    for intent in PROTECTED_INTENTS:
        if intent in on:
            raise t.error(f"on.{intent}", f"no override: {intent} is handled by the engine for compliance", on[intent])
    dtmf = _target_table(t.table("dtmf"), allowed=tuple("0123456789*#"))
    routes = []
    for rt in t.tables("route"):
        rt.reject_unknown(["go", "have", "missing", "identity", "agent"])
        have, missing = rt.strings("have", ()), rt.strings("missing", ())
        for slot in have + missing:
            if slot not in ROUTE_NAMES:
                raise rt.error("have", "slot names among " + ", ".join(ROUTE_NAMES), slot)
        routes.append(Route(rt.string("go"), have, missing, rt.boolean("identity", None), rt.boolean("agent", None)))
    node = Node(
        scene=scene,
        id=node_id,
        prompt=prompt,
        reask=reask,
        interruptible=t.boolean("interruptible", True),
        then=t.string("then", None),
        on=on,
        dtmf=dtmf,
        routes=tuple(routes),
        otherwise=t.string("otherwise", None),
        capture=_choices(t, "capture", SLOT_NAMES),
        filled=t.string("filled", None),
        fill=_fill_table(t.table("fill")),
        no_match=t.string("no_match", None),
        no_input=t.string("no_input", None),
        retries=t.integer("retries", 1, min=0, max=1),
        end=t.string("end", None, choices=DISPOSITIONS_OR_AUTO),
        transfer=t.boolean("transfer", False),
        unavailable=t.string("unavailable", None),
        confirms_identity=t.boolean("confirms_identity", False),
        flags=_choices(t, "flags", FLAGS),
        mark=t.string("mark", None, choices=DISPOSITIONS_OR_AUTO),
    )
    kinds = [node.is_decision, node.is_terminal, node.then is not None]
    if sum(kinds) > 1:
        raise t.error("", "a node that either decides (route/otherwise), ends (end/transfer) or continues (then)")
    if node.is_decision and (node.prompt or node.otherwise is None):
        raise t.error("otherwise", "a decision node has no prompt and needs an otherwise target")
    if reask and not node.waits:
        raise t.error("reask", "re-ask wording only on a node that waits for the borrower")
    if node.unavailable is not None and not node.transfer:
        raise t.error("unavailable", "only on a transfer node (where to go when no agent is reachable)")
    if not node.is_decision and not node.prompt:
        raise t.error("prompt", "a prompt (only decision nodes may omit it)")
    return node


def _fill_table(t: Table) -> dict[str, str]:
    out = {}
    for slot in list(t.keys()):
        if slot not in SLOT_NAMES:
            raise t.error(slot, "a slot among " + ", ".join(SLOT_NAMES), slot)
        out[slot] = t.string(slot, choices=FILL_SOURCES)
    return out


def _choices(t: Table, key: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    values: tuple[str, ...] = t.strings(key, ())
    for v in values:
        if v not in choices:
            raise t.error(key, "values among " + ", ".join(choices), v)
    return values


def _load_set(file: Path, default_handlers: dict[str, str], default_exits: dict[str, str]) -> ScriptSet:
    t = load_toml(file)
    t.reject_unknown(["id", "title", "description", "start", "direction", "exits", "handlers", "wording"])
    set_id = t.string("id")
    if set_id != file.stem:
        raise t.error("id", f"the file name without .toml ({file.stem!r})", set_id)
    handlers = _target_table(t.table("handlers"), allowed=INTENT_LABELS)
    for intent in PROTECTED_INTENTS:
        if intent in handlers:
            raise t.error(f"handlers.{intent}", f"no override: {intent} is handled by the engine for compliance")
    wording_t = t.table("wording")
    return ScriptSet(
        id=set_id,
        title=t.string("title"),
        description=t.string("description", ""),
        start=t.string("start"),
        exits={**default_exits, **_target_table(t.table("exits"), allowed=None)},
        handlers={**default_handlers, **handlers},
        wording={k: wording_t.string(k) for k in list(wording_t.keys())},
        source=file,
        direction=_direction(t),
    )


SCRIPT_DIRECTIONS = ("outbound", "inbound")


def _direction(t: Table) -> str:
    value = t.string("direction", "outbound")
    if value not in SCRIPT_DIRECTIONS:
        raise t.error("direction", " or ".join(repr(d) for d in SCRIPT_DIRECTIONS), value)
    return value


def _check_references(library: ScriptLibrary, lib: Table) -> None:
    """Every fragment, target and exit resolves, in every script set; otherwise name file and key."""
    used_exits: set[str] = set()
    for scene in library.scenes.values():
        for node in scene.nodes.values():
            where = f"scenes.{scene.id}.nodes.{node.id}"
            for item in node.spoken:
                if not item.startswith("{") and item not in library.fragments:
                    raise ConfigError(scene.source, f"{where}.prompt", "fragment ids defined in fragments.toml", item)
            for key, target in _node_targets(node):
                if target.startswith("@"):
                    if target not in RETURN_TARGETS:
                        used_exits.add(target[1:])
                    continue
                _check_target(library, scene.source, f"{where}.{key}", target, node)
    for script_set in library.script_sets.values():
        if script_set.start not in library.scenes:
            raise ConfigError(script_set.source, "start", "a scene id", script_set.start)
        for name in sorted(used_exits):
            if name not in script_set.exits:
                expected = f"a target for this exit (scenes use @{name})"
                raise ConfigError(script_set.source, f"exits.{name}", expected)
        for name, target in script_set.exits.items():
            _check_target(library, script_set.source, f"exits.{name}", target, None, allow_exit=False)
        for intent, target in script_set.handlers.items():
            if target.startswith("@") and target[1:] not in script_set.exits:
                raise ConfigError(script_set.source, f"handlers.{intent}", "an exit defined in [exits]", target)
            _check_target(library, script_set.source, f"handlers.{intent}", target, None, allow_exit=True)
        for original, replacement in script_set.wording.items():
            for fid in (original, replacement):
                if fid not in library.fragments:
                    expected = "fragment ids defined in fragments.toml"
                    raise ConfigError(script_set.source, f"wording.{original}", expected, fid)


def _node_targets(node: Node) -> Iterator[tuple[str, str]]:
    for key in ("then", "otherwise", "filled", "no_match", "no_input", "unavailable"):
        value = getattr(node, key)
        if value is not None:
            yield key, value
    for intent, target in node.on.items():
        yield f"on.{intent}", target
    for digit, target in node.dtmf.items():
        yield f"dtmf.{digit}", target
    for i, route in enumerate(node.routes):
        yield f"route[{i}].go", route.go


def node_targets(node: Node) -> Iterator[tuple[str, str]]:
    """(key, target) for every transition a node declares (for the linter)."""
    return _node_targets(node)


def _check_target(
    library: ScriptLibrary, file: Path, key: str, target: str, here: Node | None, *, allow_exit: bool = True
) -> None:
    if target.startswith("@"):
        if allow_exit:
            return
        raise ConfigError(file, key, "a scene or scene/node (exits cannot point at other exits)", target)
    if "/" in target:
        scene, _, node = target.partition("/")
        if scene in library.scenes and node in library.scenes[scene].nodes:
            return
    elif (here is not None and target in library.scenes[here.scene].nodes) or target in library.scenes:
        return
    raise ConfigError(file, key, "a node of this scene, a scene id, scene/node, or @exit", target)


def variable_item(item: str) -> str | None:
    """`"{amount}"` -> `"amount"`; a fragment id -> None."""
    m = _VAR.fullmatch(item)
    return m.group(1) if m else None


__all__ = [
    "DEFAULT_SCRIPTS_DIR", "ComplianceLists", "DisplayFormats", "Node", "PromptNeeds", "Route", "Scene",
    "ScriptLibrary", "ScriptSet", "load_script_library", "node_targets", "variable_item",
]

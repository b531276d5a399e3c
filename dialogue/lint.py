"""Script linter: `python -m dialogue.lint config/scripts`.

Loading (`load_script_library`) proves the files are well formed; this walks each script set's graph
the way a call would and rejects what loading cannot see: unreachable scenes and nodes, chains that
never reach a borrower turn or an end, recordings missing from the audio manifest, forbidden
phrasing (C8), debt details before identity (C6), an opening without creditor and recording notice
(C4 creditor and purpose, C5), an inbound set whose first question is not an identity question (C6:
the caller of our number is not yet the borrower), and compliance handlers that do not do their job
(C7, C9, C12). The last line printed is always `script_sets=N scenes=N segments=N errors=N`.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config.errors import ConfigError
from dialogue.prompt import DEBT_VARIABLES
from dialogue.scripts import Node, ScriptLibrary, ScriptSet, load_script_library, node_targets, variable_item
from dialogue.segments import load_segments

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LintError:
    where: str  # script set / node / file the problem is in
    rule: str  # "graph", "C6", "C8", "recording", ...
    message: str

    def __str__(self) -> str:
        return f"ERROR [{self.rule}] {self.where}: {self.message}"


def lint_library(library: ScriptLibrary, manifest: Path | None = None) -> list[LintError]:
    errors: list[LintError] = []
    errors += _check_fragment_wording(library)
    reached_scenes: set[str] = set()
    for script_set in library.script_sets.values():
        graph = _SetGraph(library, script_set)
        reached_scenes.update(key.partition("/")[0] for key in graph.reachable)
        errors += graph.check_nodes_reachable()
        errors += graph.check_chains()
        errors += graph.check_opening()
        errors += graph.check_disclosure_before_identity()
        errors += graph.check_inbound_identity_first()
        errors += graph.check_compliance_handlers()
    for scene_id in library.scenes:
        if scene_id not in reached_scenes:
            errors.append(LintError(f"scene {scene_id}", "graph", "no script set can reach this scene"))
    if manifest is not None and manifest.exists():
        errors += _check_recordings(library, manifest)
    return errors


def require_clean(library: ScriptLibrary, manifest: Path | None = None) -> None:
    """For start-up: refuse to dial with a library that fails the linter (ConfigError names the first problem)."""
    errors = lint_library(library, manifest)
    if errors:
        more = f" (and {len(errors) - 1} more; run python -m dialogue.lint)" if len(errors) > 1 else ""
        raise ConfigError(library.root, errors[0].where, f"scripts that pass the linter: {errors[0]}{more}")


def _check_fragment_wording(library: ScriptLibrary) -> list[LintError]:
    errors = []
    lists = library.compliance
    for fid, text in library.fragments.items():
        for phrase in lists.forbidden:
            if phrase in text:
                errors.append(LintError(f"fragment {fid}", "C8", f"forbidden phrase {phrase!r} in {text!r}"))
    for role, fid in library.engine_fragments.items():
        for word in lists.debt_words:
            if word in library.fragments[fid]:
                errors.append(LintError(f"engine.{role}", "C6", f"engine fragment {fid!r} may be said before identity "
                                        f"but contains the debt word {word!r}"))
    return errors


class _SetGraph:
    """One script set's nodes and transitions, with exits and global handlers resolved."""

    def __init__(self, library: ScriptLibrary, script_set: ScriptSet) -> None:
        self.library = library
        self.set = script_set
        self.start = library.resolve(script_set.start, None, script_set) or ""
        self.reachable = set(library.reachable(script_set.id))

    def where(self, node: Node | str) -> str:
        key = node if isinstance(node, str) else node.key
        return f"set {self.set.id} node {key}"

    def edges(self, node: Node, *, identity: bool | None = None) -> list[str]:
        """Nodes one step away; `identity` prunes routes that need the other identity state."""
        out = []
        for _, target in node_targets(node):
            if node.is_decision and identity is not None:
                route = next((r for r in node.routes if r.go == target), None)
                if route is not None and route.identity is not None and route.identity != identity:
                    continue
            key = self.library.resolve(target, node, self.set)
            if key is not None:
                out.append(key)
        if node.waits:
            for target in self.set.handlers.values():
                key = self.library.resolve(target, None, self.set)
                if key is not None:
                    out.append(key)
            out += [k for t in ("@no_match", "@no_input") if (k := self.library.resolve(t, None, self.set))]
        return out

    def fragments_of(self, node: Node) -> list[tuple[str, str]]:
        out = []
        for item in node.spoken:
            if variable_item(item) is None:
                fid = self.set.wording.get(item, item)
                out.append((fid, self.library.fragments[fid]))
        return out

    def check_nodes_reachable(self) -> list[LintError]:
        """A node a used scene never reaches is a script mistake (a typo in a target, usually)."""
        errors = []
        for scene_id in {key.partition("/")[0] for key in self.reachable}:
            for node in self.library.scenes[scene_id].nodes.values():
                if node.key not in self.reachable and not self._reached_anywhere(node.key):
                    errors.append(LintError(self.where(node), "graph", "node is unreachable"))
        return errors

    def _reached_anywhere(self, key: str) -> bool:
        # A node may be reached only through another set's exits; report it once, where nothing reaches it.
        for other in self.library.script_sets.values():
            if other is not self.set and key in _SetGraph(self.library, other).reachable:
                return True
        return False

    def check_chains(self) -> list[LintError]:
        """Every `then`/decision chain must stop at a node that listens or ends: no silent loops."""
        errors = []
        for key in sorted(self.reachable):
            node = self.library.node(key)
            seen = [key]
            current = node
            while not (current.waits or current.is_terminal):
                nxt = [k for _, t in node_targets(current) if (k := self.library.resolve(t, current, self.set))]
                if not nxt:
                    break  # `then = "@return"`: back to a listening node
                if any(k in seen for k in nxt):
                    errors.append(LintError(self.where(node), "graph",
                                            "then/route chain loops without a borrower turn: " + " -> ".join(seen)))
                    break
                seen.append(nxt[0])
                current = self.library.node(nxt[0])
            if node.waits and not any(True for _ in node_targets(node)) and not node.on:
                errors.append(LintError(self.where(node), "graph", "listening node with no transitions of its own"))
        return errors

    def check_opening(self) -> list[LintError]:
        """C4/C5: the chain played before the first borrower turn names the creditor and the recording."""
        parts_text, variables = "", set[str]()
        key: str | None = self.start
        for _ in range(16):
            if key is None:
                break
            node = self.library.node(key)
            parts_text += "".join(self.library.fragment(i, self.set).text for i in node.prompt if not variable_item(i))
            variables.update(v for i in node.prompt if (v := variable_item(i)))
            if node.waits or node.is_terminal:
                break
            target = node.then if node.then is not None else node.otherwise
            key = self.library.resolve(target, node, self.set) if target else None
        errors = []
        if not variables & {"creditor", "company"}:
            errors.append(LintError(self.where(self.start), "C4", "the opening does not name {creditor}"))
        if not any(phrase in parts_text for phrase in self.library.compliance.purpose):
            errors.append(LintError(self.where(self.start), "C4", "the opening does not state the purpose of the call "
                                    "(one of compliance.toml purpose: " + " / ".join(self.library.compliance.purpose)
                                    + ")"))
        if self.library.compliance.recording_notice not in parts_text:
            notice = self.library.compliance.recording_notice
            errors.append(LintError(self.where(self.start), "C5", f"the opening does not say {notice!r}"))
        return errors

    def check_disclosure_before_identity(self) -> list[LintError]:
        """C6: walk only what can be said before identity is confirmed; no debt detail may appear."""
        errors = []
        seen: set[str] = set()
        queue = deque([self.start])
        while queue:
            key = queue.popleft()
            if key in seen:
                continue
            seen.add(key)
            node = self.library.node(key)
            if node.confirms_identity:
                continue  # its own prompt and everything after may disclose
            for var in (v for i in node.spoken if (v := variable_item(i)) in DEBT_VARIABLES):
                errors.append(LintError(self.where(node), "C6", f"{{{var}}} can be said before identity is confirmed"))
            for fid, text in self.fragments_of(node):
                for word in self.library.compliance.debt_words:
                    if word in text:
                        errors.append(LintError(self.where(node), "C6",
                                                f"fragment {fid!r} says {word!r} before identity is confirmed"))
            queue.extend(self.edges(node, identity=False))
        return errors

    def check_inbound_identity_first(self) -> list[LintError]:
        """C6 for inbound sets: the first thing asked must confirm who is calling.

        Calling our number back does not make the caller the borrower, so the first node that waits
        for them must be an identity question: saying yes to it (through at most one more identity
        step, e.g. the number's last digits) enters a `confirms_identity` node.
        """
        if self.set.direction != "inbound":
            return []
        first = self._first_question()
        if first is None:
            return [LintError(self.where(self.start), "C6", "an inbound set must ask who is calling; "
                              "its opening never waits for an answer")]
        frontier, seen = [first], set[str]()
        for _ in range(2):  # the question, then at most one more identity step
            following: list[str] = []
            for key in frontier:
                seen.add(key)
                target = self.library.node(key).on.get("affirm")
                resolved = self.library.resolve(target, self.library.node(key), self.set) if target else None
                for step in self._continue(resolved):
                    node = self.library.node(step)
                    if node.confirms_identity:
                        return []
                    if node.waits and step not in seen:
                        following.append(step)
            frontier = following
        return [LintError(self.where(first), "C6", "an inbound set's first question must confirm the caller's "
                          "identity (a yes must lead to a confirms_identity node) before anything else is asked")]

    def _first_question(self) -> str | None:
        key: str | None = self.start
        for _ in range(16):
            if key is None:
                return None
            node = self.library.node(key)
            if node.waits:
                return key
            if node.is_terminal:
                return None
            target = node.then if node.then is not None else node.otherwise
            key = self.library.resolve(target, node, self.set) if target else None
        return None

    def _continue(self, key: str | None) -> list[str]:
        """`key` and the nodes it continues to without waiting (then / otherwise)."""
        out: list[str] = []
        for _ in range(16):
            if key is None or key in out:
                break
            out.append(key)
            node = self.library.node(key)
            if node.waits or node.is_terminal:
                break
            target = node.then if node.then is not None else node.otherwise
            key = self.library.resolve(target, node, self.set) if target else None
        return out

    def check_compliance_handlers(self) -> list[LintError]:
        errors = []
        lists = self.library.compliance
        ask_caller = self._handler_chain("ask_caller")
        said = "".join(text for node in ask_caller for _, text in self.fragments_of(node))
        if not any(phrase in said for phrase in lists.ai_disclosure):
            errors.append(LintError(f"set {self.set.id} handler ask_caller", "C12",
                                    "the answer to 'are you a robot?' does not say " + " / ".join(lists.ai_disclosure)))
        stop = self._handler_chain("stop_calling")
        if not any(n.end == "opt_out" or "opt_out" in n.flags for n in stop):
            errors.append(LintError(f"set {self.set.id} handler stop_calling", "C7",
                                    "stop_calling does not lead to an opt_out end or flag"))
        complaint_start = self.library.resolve(self.set.handlers["complaint"], None, self.set) or ""
        after = [self.library.node(k) for k in self._walk_local(complaint_start)]
        if not any(n.transfer for n in after) or not any(n.end is not None for n in after):
            errors.append(LintError(f"set {self.set.id} handler complaint", "C9",
                                    "a complaint must be offered both a human agent (transfer) and a callback (end)"))
        alone = [self.library.node(k) for k in self._walk_local(complaint_start, agent=False)]
        if not any(n.end is not None and "callback_requested" in n.flags for n in alone):
            errors.append(LintError(f"set {self.set.id} handler complaint", "C9",
                                    "with no agent reachable a complaint must be offered a callback by a person "
                                    "(an ending node with flags = [\"callback_requested\"])"))
        for key in sorted(self.reachable):
            node = self.library.node(key)
            if node.transfer and node.unavailable is None:
                errors.append(LintError(self.where(node), "C9", "a transfer node needs `unavailable`: where to go "
                                        "when no human agent is reachable (the bot must not say it is transferring)"))
        return errors

    def _handler_chain(self, intent: str) -> list[Node]:
        key = self.library.resolve(self.set.handlers[intent], None, self.set)
        chain: list[Node] = []
        while key is not None and len(chain) < 16:
            node = self.library.node(key)
            chain.append(node)
            if node.waits or node.is_terminal:
                break
            target = node.then if node.then is not None else node.otherwise
            key = self.library.resolve(target, node, self.set) if target else None
        return chain

    def _walk_local(self, start: str, *, agent: bool | None = None) -> set[str]:
        """Nodes reachable from `start` through the node's own transitions (no global handlers).

        `agent=False` walks a call with no human agent: routes that need one are pruned and a transfer
        node leads only to its `unavailable` target, as the engine does.
        """
        seen: set[str] = set()
        queue = deque([start])
        while queue:
            key = queue.popleft()
            if key in seen or len(seen) > 50:
                continue
            node = self.library.node(key)
            if agent is False and node.transfer:
                if node.unavailable is not None and (k := self.library.resolve(node.unavailable, node, self.set)):
                    queue.append(k)
                continue
            seen.add(key)
            for _, target in node_targets(node):
                route = next((r for r in node.routes if r.go == target), None) if node.is_decision else None
                if agent is not None and route is not None and route.agent is not None and route.agent != agent:
                    continue
                if (k := self.library.resolve(target, node, self.set)) is not None:
                    queue.append(k)
        return seen


def _check_recordings(library: ScriptLibrary, manifest: Path) -> list[LintError]:
    """Read the prompt-audio manifest as plain TOML (the prompts package sits above us)."""
    try:
        with manifest.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [LintError(str(manifest), "recording", f"unreadable manifest ({exc})")]
    entries = data.get("fragments", {})
    errors = []
    used = {s.wording.get(i, i) for s in library.script_sets.values() for n in library.nodes() for i in n.spoken
            if variable_item(i) is None} | set(library.engine_fragments.values())
    for fid in sorted(used):
        entry = entries.get(fid)
        if not isinstance(entry, dict) or "file" not in entry:
            errors.append(LintError(f"fragment {fid}", "recording", f"no recording in {manifest}"))
            continue
        if not (manifest.parent / str(entry["file"])).exists():
            errors.append(LintError(f"fragment {fid}", "recording", f"recording file {entry['file']} is missing"))
        if entry.get("text") != library.fragments[fid]:
            errors.append(LintError(f"fragment {fid}", "recording",
                                    f"recorded text {entry.get('text')!r} differs from the catalogue "
                                    f"{library.fragments[fid]!r}; re-record or regenerate"))
    return errors


def _strategy_names(path: Path) -> frozenset[str] | None:
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return frozenset(tomllib.load(fh).get("strategies", {}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialogue.lint", description="Check every script set.")
    parser.add_argument("scripts", type=Path, nargs="?", default=REPO_ROOT / "config" / "scripts")
    parser.add_argument("--segments", type=Path, default=None, help="segments.toml (default: next to scripts/)")
    parser.add_argument("--strategies", type=Path, default=None, help="strategies.toml to check names against")
    parser.add_argument("--manifest", type=Path, default=REPO_ROOT / "audio_assets" / "manifest.toml")
    args = parser.parse_args(argv)
    segments_path = args.segments or args.scripts.parent / "segments.toml"
    strategies_path = args.strategies or args.scripts.parent / "strategies.toml"
    try:
        library = load_script_library(args.scripts)
    except ConfigError as exc:
        print(f"ERROR [load] {exc}")
        print("script_sets=0 scenes=0 segments=0 errors=1")
        return 1
    errors = lint_library(library, args.manifest)
    segment_count = 0
    try:
        segment_count = len(load_segments(segments_path, script_sets=frozenset(library.script_sets),
                                          strategies=_strategy_names(strategies_path)))
    except ConfigError as exc:
        errors.append(LintError(str(segments_path), "segments", str(exc)))
    for error in errors:
        print(error)
    print(f"script_sets={len(library.script_sets)} scenes={len(library.scenes)} segments={segment_count} "
          f"errors={len(errors)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

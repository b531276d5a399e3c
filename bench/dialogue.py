"""Dialogue speed: script library load, lint, and the cost of one borrower turn in the state machine.

Run from the repository root: ``.venv/bin/python bench/dialogue.py [--conversations N]``.
Turns are random replies from the intent training phrases through the real classifier and slot
extractor, over every script set, so the per-turn figure is what a call pays between the final
transcript and the next prompt (before audio rendering). Figures are from this one run. The turns per
engaged conversation are measured over the collection sets only: the mediation notice set (issue 13)
is a short notice, not a collection conversation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First, even with PYTHONPATH set: this file's own folder would otherwise make `dialogue` mean this script.
sys.path.insert(0, str(ROOT))

from dialogue.borrower import Borrower  # noqa: E402
from dialogue.engagement import GOAL_MEAN_TURNS, is_cut_short, is_engaged, turn_stats  # noqa: E402
from dialogue.intents import IntentClassifier  # noqa: E402
from dialogue.lint import lint_library  # noqa: E402
from dialogue.manager import DialogueManager  # noqa: E402
from dialogue.scripts import DEFAULT_SCRIPTS_DIR, load_script_library  # noqa: E402
from sim.personas import load_personas  # noqa: E402

TODAY = dt.date(2026, 11, 28)
BORROWER = {
    "id": "B001", "name": "张伟", "gender": "male", "phone": "+8613800138000", "amount_due": 3200.0,
    "overdue_days": 12, "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融",
    "risk_score": 620, "value_tier": "normal", "timezone": "Asia/Shanghai",
    "mediator": "示例调解中心", "mediator_phone": "400-820-1234",  # so the mediation notice set really runs
}
NOTICE_SETS = frozenset({"mediation_notice"})  # not collection conversations: left out of the engagement figure


def _timed(fn: object, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    load_ms = _timed(lambda: load_script_library(DEFAULT_SCRIPTS_DIR), 10)
    library = load_script_library(DEFAULT_SCRIPTS_DIR)
    lint_ms = _timed(lambda: lint_library(library), 5)
    classifier = IntentClassifier.load()
    train = ROOT / "dialogue" / "data" / "intents" / "train"
    phrases = [line.strip() for f in sorted(train.glob("*.txt")) for line in f.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")] + ["<silence>"] * 50
    borrower = Borrower.from_dict(BORROWER)
    rng = random.Random(args.seed)
    sets = sorted(library.script_sets)
    turn_ms: list[float] = []
    turns_per_call: list[int] = []

    def converse(manager: DialogueManager, timings: list[float]) -> None:
        manager.start(borrower)
        while not manager.ended:
            said = rng.choice(phrases)
            started = time.perf_counter()
            if said == "<silence>":
                manager.on_no_input()
            else:
                manager.on_utterance(said, 0.9)
            timings.append((time.perf_counter() - started) * 1000)

    for _ in range(args.conversations):
        manager = DialogueManager(library, classifier, TODAY, script_set=rng.choice(sets))
        converse(manager, turn_ms)
        turns_per_call.append(manager.turns)
    # Memory: 200 finished conversations kept alive, as a server holds them until the call record is written.
    tracemalloc.start()
    kept = []
    for _ in range(200):
        kept.append(DialogueManager(library, classifier, TODAY, script_set=rng.choice(sets)))
        converse(kept[-1], [])
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    turn_ms.sort()
    print(f"library load: median {statistics.median(load_ms):.1f} ms ({len(library.scenes)} scenes, "
          f"{len(library.script_sets)} sets, {len(library.fragments)} fragments)")
    print(f"lint (all sets, no manifest): median {statistics.median(lint_ms):.1f} ms")
    print(f"turn (classify + slots + state machine + prompt build): median {statistics.median(turn_ms):.3f} ms, "
          f"p99 {turn_ms[int(len(turn_ms) * 0.99)]:.3f} ms over {len(turn_ms)} turns")
    print(f"conversations: {args.conversations}, borrower turns per call median {statistics.median(turns_per_call)}, "
          f"max {max(turns_per_call)}")
    print(f"memory per finished conversation: {held / len(kept) / 1024:.1f} KiB (200 kept alive)")
    _persona_turns(library, classifier, borrower)
    return 0


def _persona_turns(library: object, classifier: IntentClassifier, borrower: Borrower) -> None:
    """Every sim persona's lines (sim/personas.toml) in every collection set, as text through the real classifier.

    The borrower stops when their lines run out (a hang-up). Reports borrower turns per engaged
    conversation and the most times one prompt was said in a call (the goal is never more than twice).
    """
    from dialogue.scripts import ScriptLibrary

    assert isinstance(library, ScriptLibrary)
    turns: list[int] = []
    cut_short: list[int] = []
    by_persona: dict[str, list[int]] = {}
    most_repeats = 0
    for persona in load_personas().personas.values():
        if not persona.lines or persona.answer != "answer":
            continue
        for set_id in sorted(set(library.script_sets) - NOTICE_SETS):
            manager = DialogueManager(library, classifier, TODAY, script_set=set_id)
            said = [manager.start(borrower)]
            for line in persona.lines:
                if manager.ended:
                    break
                said.append(manager.on_utterance(line.text, 0.9))
            outcome = (manager.outcome or manager.on_hangup()).to_dict()
            texts = [p.text for a in said if (p := getattr(a, "prompt", None)) is not None]
            most_repeats = max(most_repeats, *(texts.count(t) for t in texts)) if texts else most_repeats
            if is_engaged(outcome):
                turns.append(outcome["turns"])
                by_persona.setdefault(persona.name, []).append(outcome["turns"])
            elif is_cut_short(outcome):
                cut_short.append(outcome["turns"])
    stats = turn_stats(turns)
    print(f"personas x script sets: {stats.describe()}")
    short = turn_stats(cut_short)
    if short.conversations:
        print(f"  cut short by the borrower (not in the figure): {short.conversations} conversations, "
              f"mean {short.mean:.2f} turns")
    print("  per persona (mean turns): " + ", ".join(
        f"{name} {sum(v) / len(v):.1f}" for name, v in sorted(by_persona.items())))
    met = stats.mean is not None and stats.mean >= GOAL_MEAN_TURNS and most_repeats <= 2
    print(f"  most times one prompt was said in a call: {most_repeats}; goal (mean >= {GOAL_MEAN_TURNS:g}, "
          f"no prompt more than twice): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())

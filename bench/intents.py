"""Intent classifier speed on one core (throughput, per-utterance median, model size) and its
accuracy on every held-out set, clean and with simulated recogniser errors.

Run from the repository root: ``.venv/bin/python bench/intents.py [--model PATH] [--rounds N]``.
The replies are the dev and natural sets, so lengths match what the dialogue sees. The corrupted
copies (three per reply, 15% character errors, fixed seed) show how much ASR noise costs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dialogue.intents import DEFAULT_MODEL_PATH, IntentClassifier  # noqa: E402
from dialogue.intents.data import DATA_DIR, NoiseSpec, read_jsonl, simulate_asr  # noqa: E402
from dialogue.intents.metrics import evaluate  # noqa: E402
from dialogue.intents.model import INTENTS  # noqa: E402
from dialogue.intents.training import ASR_CHARACTER_ERROR_RATE  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the replies (default 5)")
    args = parser.parse_args()

    started = time.perf_counter()
    classifier = IntentClassifier.load(args.model)
    load_seconds = time.perf_counter() - started
    texts = [e.text for path in sorted(DATA_DIR.glob("*.jsonl")) for e in read_jsonl(path)]
    for text in texts[:200]:  # warm caches before timing
        classifier.classify(text)

    per_call: list[float] = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for text in texts:
            t0 = time.perf_counter()
            classifier.classify(text)
            per_call.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started

    size = args.model.stat().st_size
    features = len(classifier.model.vocabulary)
    print(f"model: {args.model} ({size} bytes, {size / 1024 / 1024:.2f} MB, {features} features)")
    print(f"load time: {load_seconds * 1000:.1f} ms")
    print(f"utterances: {len(per_call)} ({len(texts)} distinct x {args.rounds} rounds)")
    print(f"throughput: {len(per_call) / elapsed:.0f} utterances/s")
    print(f"median: {statistics.median(per_call) * 1e6:.1f} us per utterance")
    print(f"p99: {sorted(per_call)[int(len(per_call) * 0.99)] * 1e6:.1f} us per utterance")
    _print_accuracy(classifier)
    return 0


def _print_accuracy(classifier: IntentClassifier) -> None:
    spec = NoiseSpec.read()
    rate = f"{ASR_CHARACTER_ERROR_RATE:.0%}"
    print(f"accuracy (floor {classifier.min_confidence}): clean | x3 with {rate} simulated ASR errors")
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        examples = read_jsonl(path)
        gold = [e.intent for e in examples]
        clean = evaluate(gold, [classifier.classify(e.text).intent for e in examples], INTENTS)
        rng = random.Random(7)
        noisy_texts = [simulate_asr(e.text, spec, rng, ASR_CHARACTER_ERROR_RATE) for _ in range(3) for e in examples]
        noisy = evaluate(gold * 3, [classifier.classify(t).intent for t in noisy_texts], INTENTS)
        print(
            f"  {path.name:<16} n={len(examples):<4} acc {clean.accuracy:.4f} F1 {clean.macro_f1:.4f}"
            f" | acc {noisy.accuracy:.4f} F1 {noisy.macro_f1:.4f}"
        )


if __name__ == "__main__":
    sys.exit(main())

"""``python -m dialogue.intents train | eval FILE.jsonl | predict TEXT | compare | cv``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dialogue.intents.data import (
    AUGMENT_PATH,
    DEV_PATH,
    TRAIN_DIR,
    DataError,
    Example,
    NoiseSpec,
    read_jsonl,
    read_label_files,
)
from dialogue.intents.metrics import Report, evaluate
from dialogue.intents.model import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MODEL_PATH,
    INTENTS,
    IntentClassifier,
    ModelFileError,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialogue.intents", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on the label files and write the model")
    train.add_argument("--data", type=Path, default=TRAIN_DIR, help="directory of <label>.txt files")
    train.add_argument("--augment", type=Path, default=AUGMENT_PATH, help="ASR-noise spec (JSON)")
    train.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="model file to write")

    evaluate_ = commands.add_parser("eval", help="score a JSON Lines file of {text, intent}")
    evaluate_.add_argument("file", type=Path)
    evaluate_.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    evaluate_.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    evaluate_.add_argument("--errors", action="store_true", help="also list every misclassified line")

    predict = commands.add_parser("predict", help="classify one reply and print JSON")
    predict.add_argument("text")
    predict.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    predict.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)

    compare = commands.add_parser("compare", help="score the candidate settings on the dev split")
    compare.add_argument("--data", type=Path, default=TRAIN_DIR)
    compare.add_argument("--dev", type=Path, default=DEV_PATH)

    cv = commands.add_parser("cv", help="k-fold cross-validation of model settings on the training lines")
    cv.add_argument("--data", type=Path, default=TRAIN_DIR)
    cv.add_argument("--folds", type=int, default=5)

    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args.data, args.augment, args.out)
        if args.command == "eval":
            return _eval(args.file, args.model, args.min_confidence, args.errors)
        if args.command == "predict":
            return _predict(args.text, args.model, args.min_confidence)
        if args.command == "cv":
            return _cross_validate(args.data, args.folds)
        return _compare(args.data, args.dev)
    except (DataError, ModelFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _train(data: Path, augment_path: Path, out: Path) -> int:
    from dialogue.intents.training import fit

    examples = read_label_files(data)
    model = fit(examples, NoiseSpec.read(augment_path))
    model.save(out)
    meta = model.metadata
    print(
        f"wrote {out} ({out.stat().st_size} bytes): {meta['n_examples']} examples, "
        f"{meta['n_training_rows']} rows with noise, {meta['n_features']} features"
    )
    for path in sorted(DEV_PATH.parent.glob("*.jsonl")):
        report = _report(read_jsonl(path), IntentClassifier(model))
        print(f"{path.name}: {report.summary_line()}")
    return 0


def _report(examples: Sequence[Example], classifier: IntentClassifier, errors: bool = False) -> Report:
    predicted = [classifier.classify(e.text).intent for e in examples]
    if errors:
        for example, guess in zip(examples, predicted, strict=True):
            if guess != example.intent:
                print(f"{example.source}: {example.text!r} {example.intent} -> {guess}")
    return evaluate([e.intent for e in examples], predicted, INTENTS)


def _eval(file: Path, model_path: Path, min_confidence: float, errors: bool) -> int:
    classifier = IntentClassifier.load(model_path, min_confidence)
    print(_report(read_jsonl(file), classifier, errors).render())
    return 0


def _predict(text: str, model_path: Path, min_confidence: float) -> int:
    result = IntentClassifier.load(model_path, min_confidence).classify(text)
    payload = {"intent": result.intent, "confidence": result.confidence, "top3": [list(p) for p in result.top3]}
    print(json.dumps(payload, ensure_ascii=False))
    return 0


def _compare(data: Path, dev_path: Path) -> int:
    from dialogue.intents.training import compare

    results = compare(read_label_files(data), read_jsonl(dev_path), NoiseSpec.read())
    width = max(len(row[0]) for row in results)
    print(f"{'settings':<{width}}  dev: accuracy macro_f1 | dev with simulated ASR errors: accuracy macro_f1")
    for name, accuracy, macro_f1, noisy_accuracy, noisy_macro_f1 in results:
        print(f"{name:<{width}}  {accuracy:.4f} {macro_f1:.4f} | {noisy_accuracy:.4f} {noisy_macro_f1:.4f}", flush=True)
    return 0


def _cross_validate(data: Path, folds: int) -> int:
    from dialogue.intents.training import cross_validate

    examples = read_label_files(data)
    results = cross_validate(examples, NoiseSpec.read(), folds)
    width = max(len(row[0]) for row in results)
    print(f"{len(examples)} lines, {folds} folds")
    print(f"{'settings':<{width}}  held-out folds: accuracy macro_f1 | with simulated ASR errors: accuracy macro_f1")
    for name, accuracy, macro_f1, noisy_accuracy, noisy_macro_f1 in results:
        print(f"{name:<{width}}  {accuracy:.4f} {macro_f1:.4f} | {noisy_accuracy:.4f} {noisy_macro_f1:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

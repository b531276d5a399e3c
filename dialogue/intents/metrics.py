"""Accuracy, per-label precision/recall/F1 and confusions, without a dependency at evaluation time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    accuracy: float
    macro_f1: float
    n: int
    per_label: tuple[LabelScore, ...]
    confusions: tuple[tuple[str, str, int], ...]  # (true, predicted, count), most frequent first

    def summary_line(self) -> str:
        return f"accuracy={self.accuracy:.4f} macro_f1={self.macro_f1:.4f} n={self.n}"

    def render(self, max_confusions: int = 10) -> str:
        lines = [f"{'label':<20} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
        for s in self.per_label:
            lines.append(f"{s.label:<20} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>7.4f} {s.support:>8}")
        lines.append("most confused (true -> predicted: count):")
        shown = self.confusions[:max_confusions]
        lines.extend(f"  {true} -> {pred}: {count}" for true, pred, count in shown)
        if not shown:
            lines.append("  none")
        lines.append(self.summary_line())
        return "\n".join(lines)


def evaluate(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Report:
    """Macro-F1 averages over labels present in gold or predictions, as scikit-learn does."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    pairs = Counter(zip(gold, predicted, strict=True))
    true_count = Counter(gold)
    pred_count = Counter(predicted)
    scores = []
    for label in labels:
        if true_count[label] == 0 and pred_count[label] == 0:
            continue
        hit = pairs[(label, label)]
        precision = hit / pred_count[label] if pred_count[label] else 0.0
        recall = hit / true_count[label] if true_count[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(LabelScore(label, precision, recall, f1, true_count[label]))
    n = len(gold)
    accuracy = sum(pairs[(label, label)] for label in true_count) / n if n else 0.0
    macro_f1 = sum(s.f1 for s in scores) / len(scores) if scores else 0.0
    confusions = sorted(
        ((t, p, c) for (t, p), c in pairs.items() if t != p), key=lambda item: (-item[2], item[0], item[1])
    )
    return Report(accuracy, macro_f1, n, tuple(scores), tuple(confusions))

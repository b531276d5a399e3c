"""Deterministic training of the intent model, and the measurement that chose its settings.

scikit-learn is used here only (the solver); features come from ``features.py`` so training and
run time cannot drift apart, and the fitted weights are exported to the numpy-only model file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from dialogue.intents.data import DataError, Example, NoiseSpec, augment, simulate_asr
from dialogue.intents.features import char_ngrams, document_frequencies, normalize, smooth_idf, tfidf_row
from dialogue.intents.model import INTENTS, LinearIntentModel


@dataclass(frozen=True)
class TrainingSettings:
    """The defaults are the winners of ``python -m dialogue.intents compare`` and ``cv`` (figures in LABELS.md)."""

    min_n: int = 1
    max_n: int = 3
    min_df: int = 2
    c: float = 20.0
    noisy_per_example: int = 6
    class_weight_balanced: bool = True
    seed: int = 20261128


def fit(
    examples: Sequence[Example], spec: NoiseSpec, settings: TrainingSettings = TrainingSettings()
) -> LinearIntentModel:
    """Fit on the label files plus their noisy variants; the same data and settings give the same bytes.

    The vocabulary is sorted and the solver (lbfgs) has no random state, so no seed but the
    augmentation's matters.
    """
    from sklearn.linear_model import LogisticRegression

    training = augment(examples, spec, settings.noisy_per_example, settings.seed)
    texts = [normalize(e.text) for e in training]
    frequencies = document_frequencies(texts, settings.min_n, settings.max_n)
    vocabulary = tuple(sorted(g for g, df in frequencies.items() if df >= settings.min_df))
    columns = {g: i for i, g in enumerate(vocabulary)}
    idf = [smooth_idf(frequencies[g], len(texts)) for g in vocabulary]
    matrix = _matrix(texts, columns, idf, settings)
    targets = np.array([INTENTS.index(e.intent) for e in training])
    solver = LogisticRegression(
        C=settings.c,
        max_iter=5000,
        tol=1e-4,
        class_weight="balanced" if settings.class_weight_balanced else None,
    )
    solver.fit(matrix, targets)
    if list(solver.classes_) != list(range(len(INTENTS))):
        raise DataError("every intent needs training examples")
    metadata = {
        "settings": asdict(settings),
        "n_examples": len(examples),
        "n_training_rows": len(training),
        "n_features": len(vocabulary),
    }
    return LinearIntentModel(
        labels=INTENTS,
        vocabulary=vocabulary,
        idf=np.asarray(idf, dtype=np.float32),
        weights=np.ascontiguousarray(solver.coef_.T, dtype=np.float32),
        bias=np.asarray(solver.intercept_, dtype=np.float32),
        min_n=settings.min_n,
        max_n=settings.max_n,
        metadata=metadata,
    )


def _matrix(
    texts: Sequence[str], columns: dict[str, int], idf: Sequence[float], settings: TrainingSettings
) -> csr_matrix:
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        row_columns, row_values = tfidf_row(char_ngrams(text, settings.min_n, settings.max_n), columns, idf)
        indices.extend(row_columns)
        data.extend(row_values)
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(texts), len(columns)), dtype=np.float64)


# Character error rate of the corrupted dev copy in ``compare``: that of vosk-model-small-cn on noisy speech.
ASR_CHARACTER_ERROR_RATE = 0.15


@dataclass(frozen=True)
class Alternative:
    name: str
    settings: TrainingSettings
    estimator: str = "logreg"  # or "linear_svm", "complement_nb"


# Every alternative spells out what differs from this baseline, so changing the defaults above
# does not silently change what an earlier measurement meant.
_BASELINE = TrainingSettings(min_n=1, max_n=3, min_df=1, c=20.0, noisy_per_example=3)
ALTERNATIVES: tuple[Alternative, ...] = (
    Alternative("logreg 1-3 C=20 noise=3", _BASELINE),
    Alternative("logreg 1-2 C=20 noise=3", replace(_BASELINE, max_n=2)),
    Alternative("logreg 1-4 C=20 noise=3", replace(_BASELINE, max_n=4)),
    Alternative("logreg 1-3 C=5 noise=3", replace(_BASELINE, c=5.0)),
    Alternative("logreg 1-3 C=50 noise=3", replace(_BASELINE, c=50.0)),
    Alternative("logreg 1-3 C=20 no noise", replace(_BASELINE, noisy_per_example=0)),
    Alternative("logreg 1-3 C=20 noise=6", replace(_BASELINE, noisy_per_example=6)),
    Alternative("logreg 1-3 C=20 min_df=2", replace(_BASELINE, min_df=2)),
    Alternative("logreg 1-3 C=20 noise=6 min_df=2", replace(_BASELINE, noisy_per_example=6, min_df=2)),
    Alternative("logreg 1-3 C=50 noise=6 min_df=2", replace(_BASELINE, c=50.0, noisy_per_example=6, min_df=2)),
    Alternative("logreg 1-2 C=50 noise=6 min_df=2", replace(_BASELINE, max_n=2, c=50.0, noisy_per_example=6, min_df=2)),
    Alternative("logreg 1-3 C=20 unweighted", replace(_BASELINE, class_weight_balanced=False)),
    Alternative("linear svm 1-3 C=1 noise=3", replace(_BASELINE, c=1.0), "linear_svm"),
    Alternative("complement nb 1-3 noise=3", _BASELINE, "complement_nb"),
)


def compare(
    train: Sequence[Example],
    dev: Sequence[Example],
    spec: NoiseSpec,
    alternatives: Sequence[Alternative] = ALTERNATIVES,
) -> list[tuple[str, float, float, float, float]]:
    """(name, accuracy, macro-F1, accuracy and macro-F1 on ASR-corrupted dev) for each alternative,
    without the confidence floor. The corrupted copy separates settings that the clean dev split,
    being small and clean, scores alike."""
    import random

    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    from dialogue.intents.metrics import evaluate
    from dialogue.intents.model import IntentClassifier

    rng = random.Random(7)
    corrupted = [simulate_asr(e.text, spec, rng, ASR_CHARACTER_ERROR_RATE) for _ in range(3) for e in dev]
    clean = [e.text for e in dev]
    gold = [e.intent for e in dev]
    results = []
    for alternative in alternatives:
        settings = alternative.settings
        predict: Callable[[Sequence[str]], list[str]]
        if alternative.estimator == "logreg":
            classifier = IntentClassifier(fit(train, spec, settings), min_confidence=0.0)

            def predict(texts: Sequence[str], classifier: IntentClassifier = classifier) -> list[str]:
                return [classifier.classify(text).intent for text in texts]

        else:
            training = augment(train, spec, settings.noisy_per_example, settings.seed)
            normalized = [normalize(e.text) for e in training]
            frequencies = document_frequencies(normalized, settings.min_n, settings.max_n)
            vocabulary = sorted(g for g, df in frequencies.items() if df >= settings.min_df)
            columns = {g: i for i, g in enumerate(vocabulary)}
            idf = [smooth_idf(frequencies[g], len(normalized)) for g in vocabulary]
            estimator = (
                LinearSVC(C=settings.c, random_state=settings.seed, max_iter=20000)
                if alternative.estimator == "linear_svm"
                else ComplementNB(alpha=0.3)
            )
            estimator.fit(_matrix(normalized, columns, idf, settings), [e.intent for e in training])

            def predict(
                texts: Sequence[str],
                estimator: Any = estimator,
                columns: dict[str, int] = columns,
                idf: list[float] = idf,
                settings: TrainingSettings = settings,
            ) -> list[str]:
                matrix = _matrix([normalize(t) for t in texts], columns, idf, settings)
                return [str(p) for p in estimator.predict(matrix)]

        on_clean = evaluate(gold, predict(clean), INTENTS)
        on_noisy = evaluate(gold * 3, predict(corrupted), INTENTS)
        results.append((alternative.name, on_clean.accuracy, on_clean.macro_f1, on_noisy.accuracy, on_noisy.macro_f1))
    return results


# Cross-validation alternatives: what the second wave compared (figures in LABELS.md), spelled out
# against a fixed baseline like ALTERNATIVES. "logreg+svm" averages the logreg probabilities with a
# softmax of the SVM margins.
_CV_BASE = TrainingSettings(min_n=1, max_n=3, min_df=2, c=20.0, noisy_per_example=3)
CV_ALTERNATIVES: tuple[Alternative, ...] = (
    Alternative("logreg 1-3 C=20 min_df=2 noise=3", _CV_BASE),
    Alternative("logreg 1-3 C=50 noise=3", replace(_CV_BASE, c=50.0)),
    Alternative("logreg 1-4 C=20 noise=3", replace(_CV_BASE, max_n=4)),
    Alternative("logreg 1-3 C=20 noise=4", replace(_CV_BASE, noisy_per_example=4)),
    Alternative("logreg 1-3 C=20 noise=5", replace(_CV_BASE, noisy_per_example=5)),
    Alternative("logreg 1-3 C=20 noise=6 (chosen)", replace(_CV_BASE, noisy_per_example=6)),
    Alternative("linear svm C=1 noise=3", replace(_CV_BASE, c=1.0), "linear_svm"),
    Alternative("logreg+svm mean noise=3", _CV_BASE, "logreg+svm"),
)
# Scale applied to SVM margins before the softmax, so they are comparable to logreg probabilities.
_SVM_MARGIN_SCALE = 3.0


def cross_validate(
    examples: Sequence[Example],
    spec: NoiseSpec,
    folds: int = 5,
    alternatives: Sequence[Alternative] = CV_ALTERNATIVES,
    seed: int = 1,
) -> list[tuple[str, float, float, float, float]]:
    """(name, accuracy, macro-F1, and both on an ASR-corrupted copy) over ``folds`` folds of the
    training lines. The dev split is small enough that most settings tie on it; every training line is
    a distinct phrasing, so k-fold scores separate settings on thousands of replies instead of 340.
    Each fold is trained with its own noise on the other folds only."""
    import random

    from dialogue.intents.metrics import evaluate

    if folds < 2 or folds > len(examples):
        raise ValueError(f"folds must be within [2, {len(examples)}], got {folds}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    parts = [order[k::folds] for k in range(folds)]
    results = []
    for alternative in alternatives:
        gold: list[str] = []
        clean_predictions: list[str] = []
        noisy_predictions: list[str] = []
        for k, held in enumerate(parts):
            train = [examples[i] for j, part in enumerate(parts) if j != k for i in part]
            test = [examples[i] for i in held]
            rng = random.Random(seed + k)
            texts = [e.text for e in test]
            noisy = [simulate_asr(t, spec, rng, ASR_CHARACTER_ERROR_RATE) for t in texts]
            scores = _fold_scores(alternative, train, spec, texts + noisy)
            predicted = [INTENTS[int(i)] for i in scores.argmax(axis=1)]
            clean_predictions += predicted[: len(texts)]
            noisy_predictions += predicted[len(texts) :]
            gold += [e.intent for e in test]
        on_clean = evaluate(gold, clean_predictions, INTENTS)
        on_noisy = evaluate(gold, noisy_predictions, INTENTS)
        results.append((alternative.name, on_clean.accuracy, on_clean.macro_f1, on_noisy.accuracy, on_noisy.macro_f1))
    return results


def _fold_scores(
    alternative: Alternative, train: Sequence[Example], spec: NoiseSpec, texts: Sequence[str]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per-label scores (rows sum to 1) for ``texts`` from a model fitted on ``train``."""
    from sklearn.svm import LinearSVC

    from dialogue.intents.model import IntentClassifier

    settings = alternative.settings
    parts = []
    if alternative.estimator in ("logreg", "logreg+svm"):
        classifier = IntentClassifier(fit(train, spec, settings), min_confidence=0.0)
        parts.append(np.array([classifier.probabilities(t) for t in texts]))
    if alternative.estimator in ("linear_svm", "logreg+svm"):
        svm_settings = replace(settings, c=1.0) if alternative.estimator == "logreg+svm" else settings
        training = augment(train, spec, svm_settings.noisy_per_example, svm_settings.seed)
        normalized = [normalize(e.text) for e in training]
        frequencies = document_frequencies(normalized, svm_settings.min_n, svm_settings.max_n)
        vocabulary = sorted(g for g, df in frequencies.items() if df >= svm_settings.min_df)
        columns = {g: i for i, g in enumerate(vocabulary)}
        idf = [smooth_idf(frequencies[g], len(normalized)) for g in vocabulary]
        svm = LinearSVC(C=svm_settings.c, class_weight="balanced", max_iter=20000, random_state=svm_settings.seed)
        svm.fit(_matrix(normalized, columns, idf, svm_settings), [INTENTS.index(e.intent) for e in training])
        if list(svm.classes_) != list(range(len(INTENTS))):
            raise DataError("every intent needs training examples in every fold")
        margins = svm.decision_function(_matrix([normalize(t) for t in texts], columns, idf, svm_settings))
        exp = np.exp(_SVM_MARGIN_SCALE * (margins - margins.max(axis=1, keepdims=True)))
        parts.append(exp / exp.sum(axis=1, keepdims=True))
    if not parts:
        raise ValueError(f"unknown estimator {alternative.estimator!r}")
    mean: np.ndarray[Any, np.dtype[np.float64]] = np.mean(parts, axis=0)
    return mean

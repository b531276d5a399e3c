"""The intent labels, the model file format and the run-time classifier.

Run time needs only numpy: the model is a linear softmax over character n-gram TF-IDF, stored as
plain arrays in an ``.npz`` (no pickle, so loading a model file cannot execute code and does not
depend on the scikit-learn version that trained it).
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dialogue.intents.features import char_ngrams, normalize, tfidf_row
from dialogue.soundalike import SoundAlike, ToleranceSpec, default_tolerance

INTENTS: tuple[str, ...] = (
    "affirm",
    "deny",
    "wrong_number",
    "third_party",
    "promise_to_pay",
    "already_paid",
    "refuse_to_pay",
    "hardship",
    "negotiate",
    "ask_amount",
    "ask_payment_method",
    "ask_caller",
    "dispute",
    "complaint",
    "stop_calling",
    "busy",
    "repeat",
    "request_agent",
    "greeting",
    "other",
)
FALLBACK_INTENT = "other"
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "intents"
DEFAULT_MODEL_PATH = DATA_DIR / "model.npz"
# Chosen on the dev split (see LABELS.md): high enough to turn noise into "other", low enough not to
# cost accuracy on genuine but unusual replies.
DEFAULT_MIN_CONFIDENCE = 0.30
FORMAT_VERSION = 1
TRAIN_HINT = "run `python -m dialogue.intents train` to build it"

FloatArray = npt.NDArray[np.float32]


class ModelFileError(RuntimeError):
    """The intent model file is missing, unreadable or does not match this code."""


@dataclass(frozen=True)
class IntentResult:
    """One classified reply. When the best score is below the threshold, ``intent`` is "other"
    while ``confidence`` and ``top3`` still report the model's real scores, for the call record."""

    intent: str
    confidence: float
    top3: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class LinearIntentModel:
    """Softmax over TF-IDF features: ``probabilities = softmax(x @ weights + bias)``."""

    labels: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: FloatArray
    weights: FloatArray  # shape (len(vocabulary), len(labels))
    bias: FloatArray  # shape (len(labels),)
    min_n: int
    max_n: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written through a file object so numpy does not append its own suffix, and with fixed
        # member order so two trainings on the same data produce byte-identical files.
        with path.open("wb") as handle:
            np.savez_compressed(
                handle,
                format_version=np.array(FORMAT_VERSION, dtype=np.int32),
                labels=np.array(self.labels, dtype=np.str_),
                vocabulary=np.array(self.vocabulary, dtype=np.str_),
                idf=self.idf.astype(np.float32),
                weights=self.weights.astype(np.float32),
                bias=self.bias.astype(np.float32),
                ngram_range=np.array([self.min_n, self.max_n], dtype=np.int32),
                metadata=np.array(json.dumps(self.metadata, sort_keys=True, ensure_ascii=False)),
            )

    @classmethod
    def read(cls, path: Path) -> LinearIntentModel:
        if not path.is_file():
            raise ModelFileError(f"intent model file {path} does not exist; {TRAIN_HINT}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                version = int(archive["format_version"])
                if version != FORMAT_VERSION:
                    raise ModelFileError(
                        f"intent model file {path} has format {version}, this code reads {FORMAT_VERSION}; {TRAIN_HINT}"
                    )
                min_n, max_n = (int(v) for v in archive["ngram_range"])
                model = cls(
                    labels=tuple(str(v) for v in archive["labels"]),
                    vocabulary=tuple(str(v) for v in archive["vocabulary"]),
                    idf=archive["idf"].astype(np.float32),
                    weights=archive["weights"].astype(np.float32),
                    bias=archive["bias"].astype(np.float32),
                    min_n=min_n,
                    max_n=max_n,
                    metadata=json.loads(str(archive["metadata"])),
                )
        except ModelFileError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelFileError(f"intent model file {path} is unreadable ({exc}); {TRAIN_HINT}") from exc
        model.check(path)
        return model

    def check(self, path: Path) -> None:
        """Refuse a model whose arrays disagree or whose labels are not the ones the dialogue expects."""
        n_features, n_labels = len(self.vocabulary), len(self.labels)
        problems = []
        if self.labels != INTENTS:
            problems.append(f"labels {list(self.labels)} differ from {list(INTENTS)}")
        if self.weights.shape != (n_features, n_labels):
            problems.append(f"weights shape {self.weights.shape} != ({n_features}, {n_labels})")
        if self.bias.shape != (n_labels,):
            problems.append(f"bias shape {self.bias.shape} != ({n_labels},)")
        if self.idf.shape != (n_features,):
            problems.append(f"idf shape {self.idf.shape} != ({n_features},)")
        if not 1 <= self.min_n <= self.max_n:
            problems.append(f"bad n-gram range {self.min_n}..{self.max_n}")
        if problems:
            raise ModelFileError(f"intent model file {path} is inconsistent: {'; '.join(problems)}; {TRAIN_HINT}")


class IntentClassifier:
    """Classifies one borrower reply in well under a millisecond on one core.

    Read-only after construction, so one instance can be shared by every call and worker thread.
    """

    def __init__(
        self,
        model: LinearIntentModel,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        tolerance: ToleranceSpec | bool = True,
    ) -> None:
        """``tolerance``: read recognizer output by sound (True: dialogue/data/asr_tolerance.toml; False: off)."""
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
        self.model = model
        self.min_confidence = min_confidence
        self._columns = {gram: column for column, gram in enumerate(model.vocabulary)}
        spec = default_tolerance() if tolerance is True else tolerance or None
        self.tolerance = spec
        # A run the model has n-grams for was seen in training: it is read as written, never "repaired".
        self._sound = SoundAlike(spec.intent_keywords, spec.folds, known=self._knows) if spec else None
        # Python floats make the per-token idf lookups in tfidf_row cheaper than numpy scalars.
        self._idf: list[float] = model.idf.astype(float).tolist()
        self._fallback = model.labels.index(FALLBACK_INTENT)

    def _knows(self, run: str) -> bool:
        """Whether training saw this run: every n-gram of it (of the model's longest order) is a feature."""
        n = min(len(run), self.model.max_n)
        return all(run[i : i + n] in self._columns for i in range(len(run) - n + 1))

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        tolerance: ToleranceSpec | bool = True,
    ) -> IntentClassifier:
        return cls(LinearIntentModel.read(path or DEFAULT_MODEL_PATH), min_confidence, tolerance)

    def read(self, text: str) -> str:
        """The text as the model sees it: normalized, traditional forms folded, misheard domain words restored."""
        normalized = normalize(text)
        if self.tolerance is None or self._sound is None:
            return normalized
        return self._sound.repair(self.tolerance.fold_variants(normalized, known=self._columns.__contains__))

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Softmax scores over ``INTENTS`` for one reply, before the confidence floor."""
        return self._probabilities(self.read(text))

    def _probabilities(self, normalized: str) -> npt.NDArray[np.float64]:
        model = self.model
        counts = char_ngrams(normalized, model.min_n, model.max_n)
        columns, values = tfidf_row(counts, self._columns, self._idf)
        logits = model.bias.astype(np.float64)
        if columns:
            logits = logits + np.asarray(values) @ model.weights[columns]
        logits -= logits.max()
        exp = np.exp(logits)
        probs: npt.NDArray[np.float64] = exp / exp.sum()
        return probs

    def classify(self, text: str) -> IntentResult:
        normalized = self.read(text)
        probs = self._probabilities(normalized)
        order = np.argsort(-probs, kind="stable")[:3]
        top3 = tuple((self.model.labels[i], round(float(probs[i]), 4)) for i in order)
        best = int(order[0])
        confidence = float(probs[best])
        # Nothing left after normalisation (silence, a lone punctuation mark) is never a guess.
        if not normalized or confidence < self.min_confidence or math.isnan(confidence):
            best = self._fallback
        return IntentResult(self.model.labels[best], round(confidence, 4), top3)

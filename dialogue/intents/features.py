"""Text normalisation and character n-gram features shared by training and inference.

Both sides must featurise identically, so this is the only place that defines it. Spaces and
punctuation are dropped because ASR inserts them arbitrarily; digit runs collapse to one symbol
because "3号" and "15号" mean the same thing to an intent.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

# Anything that is not a letter or digit (CJK characters are letters): whitespace, punctuation,
# symbols and ASR markup such as brackets.
_NOISE = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
BOUNDARY_START = "^"
BOUNDARY_END = "$"


def normalize(text: str) -> str:
    """Fold width and case, collapse digits, and drop separators that ASR inserts at random."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return _DIGITS.sub("0", _NOISE.sub("", folded))


def char_ngrams(normalized: str, min_n: int, max_n: int) -> Counter[str]:
    """Count character n-grams with start/end markers, so short replies like "不是" differ from "不是我"."""
    padded = BOUNDARY_START + normalized + BOUNDARY_END
    counts: Counter[str] = Counter()
    length = len(padded)
    for n in range(min_n, max_n + 1):
        for start in range(length - n + 1):
            gram = padded[start : start + n]
            if gram != BOUNDARY_START and gram != BOUNDARY_END:
                counts[gram] += 1
    return counts


def tfidf_row(
    counts: Mapping[str, int], vocabulary: Mapping[str, int], idf: Sequence[float]
) -> tuple[list[int], list[float]]:
    """Sublinear-tf TF-IDF, L2-normalised; unknown n-grams are ignored.

    Returns parallel lists (column indices, values) so callers can build a sparse row or gather
    weight rows without a dense vector of the vocabulary's size.
    """
    indices: list[int] = []
    values: list[float] = []
    for gram, count in counts.items():
        column = vocabulary.get(gram)
        if column is None:
            continue
        indices.append(column)
        values.append((1.0 + math.log(count)) * idf[column])
    norm = math.sqrt(sum(v * v for v in values))
    if norm > 0.0:
        values = [v / norm for v in values]
    return indices, values


def document_frequencies(texts: Iterable[str], min_n: int, max_n: int) -> Counter[str]:
    """How many normalised texts contain each n-gram: the basis of the vocabulary and idf."""
    frequencies: Counter[str] = Counter()
    for text in texts:
        frequencies.update(char_ngrams(text, min_n, max_n).keys())
    return frequencies


def smooth_idf(document_frequency: int, n_documents: int) -> float:
    """Smoothed idf as in scikit-learn, so figures stay comparable with its TfidfVectorizer."""
    return math.log((1.0 + n_documents) / (1.0 + document_frequency)) + 1.0

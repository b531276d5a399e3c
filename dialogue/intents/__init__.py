"""Intent recognition for borrowers' replies (zh-CN): ``IntentClassifier.load().classify(text)``.

Train with ``python -m dialogue.intents train``; label definitions live in
``dialogue/data/intents/LABELS.md`` beside the training data.
"""

from dialogue.intents.model import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MODEL_PATH,
    INTENTS,
    IntentClassifier,
    IntentResult,
    ModelFileError,
)

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MODEL_PATH",
    "INTENTS",
    "IntentClassifier",
    "IntentResult",
    "ModelFileError",
]

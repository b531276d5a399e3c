"""Whether the borrower's speech should interrupt the prompt being played.

Separate from speech start on purpose: a backchannel ("嗯", "对", "啊") starts an utterance but
should not cut a prompt, so the decision waits for `min_speech_ms` of speech and, if configured,
`min_chars` recognised characters from the partial results.
"""

from __future__ import annotations

from config.asr_config import BargeInSettings


def counted_chars(text: str) -> int:
    """Characters that carry words: no spaces or punctuation."""
    return sum(1 for ch in text if ch.isalnum())


class BargeInPolicy:
    def __init__(self, settings: BargeInSettings) -> None:
        self.min_speech_s = settings.min_speech_ms / 1000
        self.min_chars = settings.min_chars

    def allows(self, speech_s: float, partial_text: str) -> bool:
        if speech_s + 1e-9 < self.min_speech_s:
            return False
        return self.min_chars == 0 or counted_chars(partial_text) >= self.min_chars

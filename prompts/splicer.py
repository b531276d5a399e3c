"""Joining prepared pieces into one buffer without audible seams.

Every piece arrives trimmed, level-matched and with raised-cosine fades at both ends. Where two
pieces meet mid-phrase ("您好，" + name + "先生") they overlap by the fade length, and because the
two fades sum to exactly one the join is a clean crossfade: no click, no dip. Where the fragment
text has punctuation the join gets a pause instead, sized by the punctuation, so a spliced prompt
breathes where the script says it should.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pcm.wav import Samples

SENTENCE_END = frozenset("。！？!?.…")
CLAUSE_END = frozenset("，、；：,;:")
_SILENT = SENTENCE_END | CLAUSE_END | frozenset(" \t\n“”‘’\"'（）()《》—-")


def is_punctuation_only(text: str) -> bool:
    """A fragment like "。" carries a pause, not speech; it has (and needs) no audible recording."""
    return all(ch in _SILENT for ch in text)


@dataclass(frozen=True)
class Piece:
    """One part's audio at the call rate, ready to join; `text` is only read for its punctuation."""

    kind: str  # fragment | variable
    name: str  # fragment id or variable name
    audio: Samples  # int16, faded at both ends
    text: str = ""


@dataclass(frozen=True)
class PauseRules:
    clause_ms: int = 120
    sentence_ms: int = 250
    other_ms: int = 0

    def between(self, before: Piece, after: Piece) -> int:
        """Pause at a join, from the punctuation either side (the longer one wins)."""
        edge = before.text.rstrip()[-1:] + after.text.lstrip()[:1]
        if any(ch in SENTENCE_END for ch in edge):
            return self.sentence_ms
        if any(ch in CLAUSE_END for ch in edge):
            return self.clause_ms
        return self.other_ms


@dataclass(frozen=True)
class PartTiming:
    """Where one part sits in the rendered buffer, in samples (a crossfade overlaps its neighbour)."""

    kind: str  # fragment | variable | pause
    name: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Spliced:
    audio: Samples  # int16, faded at both ends
    parts: tuple[PartTiming, ...]
    crossfades: int  # joins made by overlap (each shortens the total by the crossfade length)


class PromptSplicer:
    def __init__(self, rate: int, *, crossfade_ms: float, pauses: PauseRules) -> None:
        self.rate = rate
        self.crossfade = int(rate * crossfade_ms / 1000)
        self.pauses = pauses

    def splice(self, pieces: Sequence[Piece]) -> Spliced:
        if not pieces:
            raise ValueError("a prompt needs at least one part")
        plan: list[tuple[str, str, int, int]] = []  # kind, name, start, length
        audible: list[Piece] = []  # pieces with sound, in order
        pos = 0
        crossfades = 0
        previous: Piece | None = None
        for piece in pieces:
            if not len(piece.audio):
                # a punctuation-only fragment ("。"): no sound of its own, it only shapes the pause
                plan.append((piece.kind, piece.name, pos, 0))
                if previous is not None:
                    previous = Piece(previous.kind, previous.name, previous.audio, previous.text + piece.text)
                continue
            if previous is not None:
                pause = self.pauses.between(previous, piece) * self.rate // 1000
                if pause:
                    plan.append(("pause", "pause", pos, pause))
                    pos += pause
                else:
                    overlap = min(self.crossfade, len(previous.audio) // 2, len(piece.audio) // 2)
                    pos -= overlap
                    crossfades += 1 if overlap else 0
            plan.append((piece.kind, piece.name, pos, len(piece.audio)))
            audible.append(piece)
            pos += len(piece.audio)
            previous = piece
        out = np.zeros(pos, dtype=np.int32)  # overlapping fades sum without wrapping
        audio_iter = iter(audible)
        for kind, _name, start, length in plan:
            if kind == "pause" or not length:
                continue
            out[start : start + length] += next(audio_iter).audio
        timings = tuple(PartTiming(k, n, s, s + length) for k, n, s, length in plan)
        return Spliced(np.clip(out, -32768, 32767).astype(np.int16), timings, crossfades)

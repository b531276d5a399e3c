"""Vosk's Chinese output puts a space between words ("我 下 周一 还 五千 块"); intent and slot code
expects running text, so spaces between Han characters go, while digits and Latin words keep a space
where one would be written ("还 500 块" -> "还500块", "ok 好" -> "ok好", "app store" stays).
Markers such as "[unk]", "<unk>" or "[noise]" are not words and are dropped.

Whisper adds its own noise: phrases from video subtitles, written for audio it cannot make out
(`drop_stock_phrases`, list in asr/data/whisper_stock_phrases.txt).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path

_MARKER = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0xF900 <= code <= 0xFAFF
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
    )


def normalize_transcript(text: str) -> str:
    """Join Han-script words, keep one space between other words (digits, Latin, Hangul)."""
    words = [w for w in text.split() if not _MARKER.match(w)]
    out = ""
    for word in words:
        if out and not (_is_han(out[-1]) or _is_han(word[0])):
            out += " "
        out += word
    return out


# A clause ends at any sentence or list punctuation (full- or half-width) or a dash run.
_CLAUSE = re.compile(r"[^，。、,.!?！？；;：:…—~～]+[，。、,.!?！？；;：:…—~～]*")
STOCK_PHRASES_PATH = Path(__file__).resolve().parent / "data" / "whisper_stock_phrases.txt"


def read_phrase_list(path: Path) -> tuple[str, ...]:
    """One entry a line, ``#`` comments; lower-cased. A missing or empty list is an error, not "drop nothing"."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"phrase list {path} is unreadable ({exc.strerror})") from None
    phrases = tuple(line.strip().lower() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not phrases:
        raise ValueError(f"phrase list {path} has no entries")
    return phrases


@functools.cache
def stock_phrases() -> tuple[str, ...]:
    return read_phrase_list(STOCK_PHRASES_PATH)


def drop_clauses(text: str, is_noise: Callable[[str], bool]) -> str:
    """Keep the clauses (text between punctuation marks) that are not noise, with their punctuation."""
    kept = [clause for clause in _CLAUSE.findall(text) if not is_noise(clause)]
    return "".join(kept).strip()


def drop_stock_phrases(text: str, phrases: Sequence[str] | None = None) -> str:
    """Whisper, trained on subtitled video, writes credits and calls to action ("请订阅我的频道", "字幕") for
    noise and unclear speech. A clause containing one of them is not the borrower's; "" means no speech."""
    markers = stock_phrases() if phrases is None else phrases
    return drop_clauses(text, lambda clause: any(marker in clause.lower() for marker in markers))

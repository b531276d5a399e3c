"""Vosk's Chinese output puts a space between words ("我 下 周一 还 五千 块"); intent and slot code
expects running text, so spaces between Han characters go, while digits and Latin words keep a space
where one would be written ("还 500 块" -> "还500块", "ok 好" -> "ok好", "app store" stays).
Markers such as "[unk]", "<unk>" or "[noise]" are not words and are dropped.
"""

from __future__ import annotations

import re

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

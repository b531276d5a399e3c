"""Reading recognizer output by sound, for the intent classifier and the slot parser.

A recognizer that mishears Mandarin mostly writes a character that sounds like the one said (huan "repay"
as huan "exchange", the day suffix hao as hao "good", wan "ten thousand" as wan "finished"): about 400
toneless syllables carry thousands of characters, and telephone audio loses
tones and the retroflex/-ng contrasts first. The intent model's n-grams and the slot parser's tables only
know the characters, so a misheard domain word is lost even though its sound came through.

`SoundAlike` compares runs of text with domain words syllable by syllable (pypinyin's common reading,
tones ignored, the folds of ``[sound]``) and writes the word for a run that sounds
like it. The words, folds and character tables are data (dialogue/data/asr_tolerance.toml), chosen from
general knowledge of ASR confusions and of the domain, and checked at load: a bad entry names the file
and the key. Dropped characters are not restored here (guessing a lost "bu", not, would flip a reply); the intent
model learns them from its training-time noise (augment.json).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pypinyin import lazy_pinyin

from config.errors import ConfigError
from config.toml_reader import Table, load_toml

DEFAULT_TOLERANCE_PATH = Path(__file__).resolve().parent / "data" / "asr_tolerance.toml"


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@dataclass(frozen=True)
class SoundFolds:
    """Near-homophones: syllable beginnings and endings read as the same sound (zh = z, ing = in)."""

    initials: tuple[tuple[str, str], ...] = ()
    finals: tuple[tuple[str, str], ...] = ()

    def fold(self, syllable: str) -> str:
        for spelled, read in self.initials:
            if syllable.startswith(spelled):
                syllable = read + syllable[len(spelled):]
                break
        for spelled, read in self.finals:
            if syllable.endswith(spelled):
                syllable = syllable[: len(syllable) - len(spelled)] + read
                break
        return syllable


@dataclass(frozen=True)
class Keyword:
    """A domain word and, where pypinyin reads it otherwise, how it is said ("huan kuan", repayment)."""

    word: str
    reading: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entry: str) -> Keyword:
        """``"<word>"`` or ``"<word>:huan kuan"``; raises ValueError for anything else."""
        word, _, spoken = entry.partition(":")
        word = word.strip()
        reading = tuple(spoken.split())
        if len(word) < 2 or not all(is_han(ch) for ch in word):
            raise ValueError("a word of two or more Han characters")
        if spoken and (len(reading) != len(word) or not all(r.isascii() and r.isalpha() for r in reading)):
            raise ValueError("one toneless pinyin syllable per character after the colon")
        return cls(word, tuple(r.lower() for r in reading))


@functools.lru_cache(maxsize=8192)
def _readings(ch: str) -> tuple[str, ...]:
    """A character's common reading. Only that one: pypinyin also lists rare, literary readings (ren for
    the "er" of son, cuo for the "zui" of most) that would make unrelated words sound alike; a word meant
    with a polyphone's other reading says so in the tables file."""
    if not is_han(ch):
        return ()
    return tuple(lazy_pinyin(ch)[:1])


class SoundAlike:
    """Writes a domain word for each run of text that sounds like it but is spelled otherwise.

    ``known(run)`` vetoes a replacement: a run the caller already understands (for the classifier, one of
    its n-grams seen in training) is left as it is, so correct text keeps its meaning. Runs are matched
    left to right, the longest word first. Shared by every call: the only state that changes after
    construction is a cache of each heard character's sound, where a concurrent fill writes the same value.
    """

    def __init__(
        self, words: Iterable[Keyword | str], folds: SoundFolds, known: Callable[[str], bool] | None = None
    ) -> None:
        keywords = [w if isinstance(w, Keyword) else Keyword(w) for w in words]
        self.words = tuple(dict.fromkeys(k.word for k in keywords))
        self.folds = folds
        self._known = known
        self._sounds: dict[str, frozenset[str]] = {}  # per heard character; grows to the characters seen
        self._exact = frozenset(self.words)
        self._lengths = sorted({len(w) for w in self.words}, reverse=True)
        self._by_first: dict[tuple[int, str], list[tuple[str, tuple[frozenset[str], ...]]]] = {}
        for keyword in keywords:
            sounds = self.word_sounds(keyword)
            for syllable in sounds[0]:
                self._by_first.setdefault((len(keyword.word), syllable), []).append((keyword.word, sounds))

    def sounds(self, ch: str) -> frozenset[str]:
        """The folded toneless syllable of a heard character; empty for anything but Han."""
        known = self._sounds.get(ch)
        if known is None:
            known = self._sounds[ch] = frozenset(self.folds.fold(r) for r in _readings(ch))
        return known

    def word_sounds(self, keyword: Keyword) -> tuple[frozenset[str], ...]:
        """How a domain word is said: its given reading, else pypinyin's reading of the word as a phrase."""
        reading = keyword.reading or tuple(lazy_pinyin(keyword.word))
        return tuple(frozenset({self.folds.fold(r)}) for r in reading)

    def word_for(self, run: str) -> str | None:
        """The domain word ``run`` is, or sounds like; None when it is neither (or the caller knows it)."""
        if run in self._exact:
            return run
        for syllable in self.sounds(run[0]):
            for word, sounds in self._by_first.get((len(run), syllable), ()):
                if all(a == b or (self.sounds(a) & s) for a, b, s in zip(run, word, sounds, strict=True)):
                    return None if self._known is not None and self._known(run) else word
        return None

    def repair(self, text: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            for length in self._lengths:
                run = text[i : i + length]
                if len(run) == length and is_han(run[0]):
                    word = self.word_for(run)
                    if word is not None:
                        out.append(word)
                        i += length
                        break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


@dataclass(frozen=True, eq=False)
class ToleranceSpec:
    """The contents of asr_tolerance.toml, checked. Compared and hashed by identity (it holds dicts)."""

    folds: SoundFolds
    variants: Mapping[str, str]
    intent_keywords: tuple[Keyword, ...]
    slot_keywords: tuple[Keyword, ...]
    day_suffix: frozenset[str]
    currency: frozenset[str]
    units: Mapping[str, str]
    ten: frozenset[str]
    source: Path = DEFAULT_TOLERANCE_PATH

    def fold_variants(self, text: str, known: Callable[[str], bool] | None = None) -> str:
        """Traditional forms as simplified ones, except those ``known`` says are understood as written."""
        if known is None:
            return text.translate(_translation(tuple(sorted(self.variants.items()))))
        return "".join(self.variants.get(ch, ch) if not known(ch) else ch for ch in text)


@functools.cache
def _translation(pairs: tuple[tuple[str, str], ...]) -> dict[int, str]:
    return {ord(a): b for a, b in pairs}


def _char_map(table: Table, key: str, *, han_only: bool = True) -> dict[str, str]:
    raw = table.data.get(key, {})
    if not isinstance(raw, dict):
        raise table.error(key, "a table of one character = one character", raw)
    out: dict[str, str] = {}
    for spelled, read in raw.items():
        if not (isinstance(read, str) and len(spelled) == 1 and len(read) == 1 and spelled != read):
            raise table.error(f"{key}.{spelled}", "one character mapped to a different single character", read)
        if han_only and not (is_han(spelled) and is_han(read)):
            raise table.error(f"{key}.{spelled}", "Han characters", read)
        out[spelled] = read
    return out


def _syllable_map(table: Table, key: str) -> tuple[tuple[str, str], ...]:
    raw = table.data.get(key, {})
    if not isinstance(raw, dict):
        raise table.error(key, "a table of pinyin spelling = pinyin spelling", raw)
    for spelled, read in raw.items():
        if not (isinstance(read, str) and all(x.isascii() and x.isalpha() for x in (spelled, read))):
            raise table.error(f"{key}.{spelled}", "lower-case pinyin letters", read)
    # Longest spelling first, so that a fold of "ang" is tried before one of "ng".
    return tuple(sorted(((s.lower(), r.lower()) for s, r in raw.items()), key=lambda p: -len(p[0])))


def _words(table: Table, key: str) -> tuple[Keyword, ...]:
    keywords = []
    for entry in table.strings(key):
        try:
            keywords.append(Keyword.parse(entry))
        except ValueError as exc:
            raise table.error(key, f"entries \"word\" or \"word:pin yin\" ({exc})", entry) from None
    return tuple(keywords)


def _chars(table: Table, key: str) -> frozenset[str]:
    chars = table.strings(key)
    for ch in chars:
        if len(ch) != 1 or not is_han(ch):
            raise table.error(key, "single Han characters", ch)
    return frozenset(chars)


def load_tolerance(path: Path | str = DEFAULT_TOLERANCE_PATH) -> ToleranceSpec:
    """Read and check the file; any problem is a `ConfigError` naming the file and the key."""
    root = load_toml(path)
    root.reject_unknown(["sound", "characters", "intents", "slots"])
    sound, characters = root.table("sound", required=True), root.table("characters", required=True)
    intents, slots = root.table("intents", required=True), root.table("slots", required=True)
    sound.reject_unknown(["initials", "finals"])
    characters.reject_unknown(["variants"])
    intents.reject_unknown(["keywords"])
    slots.reject_unknown(["keywords", "day_suffix", "currency", "units", "ten"])
    units = _char_map(slots, "units")  # that the values are units is checked by dialogue.slots, which knows them
    spec = ToleranceSpec(
        folds=SoundFolds(_syllable_map(sound, "initials"), _syllable_map(sound, "finals")),
        variants=_char_map(characters, "variants"),
        intent_keywords=_words(intents, "keywords"),
        slot_keywords=_words(slots, "keywords"),
        day_suffix=_chars(slots, "day_suffix"),
        currency=_chars(slots, "currency"),
        units=units,
        ten=_chars(slots, "ten"),
        source=Path(path),
    )
    # A character read as a numeral in one place and as something else in another would make the tables
    # depend on their order; refuse the overlap.
    groups = {"day_suffix": spec.day_suffix, "currency": spec.currency, "units": frozenset(units), "ten": spec.ten}
    seen: dict[str, str] = {}
    for name, group in groups.items():
        for ch in sorted(group):
            if ch in seen:
                expected = f"a character in one table only ({ch!r} is also in slots.{seen[ch]})"
                raise ConfigError(Path(path), f"slots.{name}", expected)
            seen[ch] = name
    return spec


@functools.cache
def default_tolerance() -> ToleranceSpec:
    return load_tolerance(DEFAULT_TOLERANCE_PATH)

"""Reading variables aloud the way a Mandarin speaker says them, before they reach the TTS engine.

espeak-ng reads "3200.50" digit by digit or as an English-style decimal; a borrower expects
"三千二百元五角". So every variable is turned into Chinese words here, by kind. The words themselves
live in `prompts/data/number_words.toml` (data, editable by non-programmers), the rules in code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from config.toml_reader import Table, load_toml

DEFAULT_NUMBER_WORDS = Path(__file__).resolve().parent / "data" / "number_words.toml"
VARIABLE_KINDS = ("text", "money", "date", "time", "count", "digits")
_MAX_CARDINAL = 10**16 - 1
_DIGIT_SEPARATORS = frozenset(" -+()")


class VariableReadingError(ValueError):
    """A variable value that cannot be read aloud for its kind (wrong type, out of range, garbage).

    Messages never repeat the value: it may be a phone number or an amount (C11).
    """


@dataclass(frozen=True)
class NumberWords:
    digits: tuple[str, ...]
    small_units: tuple[str, str, str]
    big_units: tuple[str, ...]
    two_leading: str
    phone_one: str
    negative: str
    yuan: str
    jiao: str
    fen: str
    year: str
    month: str
    day: str
    hour: str
    minute: str
    periods: tuple[tuple[int, str], ...]


def load_number_words(path: Path | str = DEFAULT_NUMBER_WORDS) -> NumberWords:
    root = load_toml(path)
    root.reject_unknown(["digits", "small_units", "big_units", "two_leading", "phone_one", "negative",
                         "money", "date", "time"])
    digits = root.strings("digits")
    if len(digits) != 10:
        raise root.error("digits", "exactly 10 words for 0-9", len(digits))
    small = root.strings("small_units")
    if len(small) != 3:
        raise root.error("small_units", "3 words for ten, hundred, thousand", len(small))
    big = root.strings("big_units")
    if len(big) != 3:
        raise root.error("big_units", "3 words for 10^4, 10^8, 10^12", len(big))
    money, date, time = root.table("money", required=True), root.table("date", required=True), root.table(
        "time", required=True
    )
    money.reject_unknown(["yuan", "jiao", "fen"])
    date.reject_unknown(["year", "month", "day"])
    time.reject_unknown(["hour", "minute", "periods"])
    return NumberWords(
        digits=tuple(digits),
        small_units=(small[0], small[1], small[2]),
        big_units=tuple(big),
        two_leading=root.string("two_leading"),
        phone_one=root.string("phone_one"),
        negative=root.string("negative"),
        yuan=money.string("yuan"),
        jiao=money.string("jiao"),
        fen=money.string("fen"),
        year=date.string("year"),
        month=date.string("month"),
        day=date.string("day"),
        hour=time.string("hour"),
        minute=time.string("minute"),
        periods=_periods(time),
    )


def _periods(t: Table) -> tuple[tuple[int, str], ...]:
    raw = t.data.get("periods")
    expected = "a list of [first_hour, word] pairs starting at hour 0, hours increasing"
    if not isinstance(raw, list) or not raw:
        raise t.error("periods", expected, raw)
    out: list[tuple[int, str]] = []
    for item in raw:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], int)
            or isinstance(item[0], bool)
            or not isinstance(item[1], str)
        ):
            raise t.error("periods", expected, item)
        out.append((item[0], item[1]))
    hours = [h for h, _ in out]
    if hours[0] != 0 or hours != sorted(set(hours)) or hours[-1] > 23:
        raise t.error("periods", expected, raw)
    return tuple(out)


class NumberReader:
    """Turns a typed variable value into the Chinese words the TTS engine should speak."""

    def __init__(self, words: NumberWords | None = None) -> None:
        self.words = words or load_number_words()

    # --- public, one per variable kind -------------------------------------------------------

    def speak(self, kind: str, value: object) -> str:
        """Words for `value` read as `kind`; raises `VariableReadingError` with the reason."""
        if kind == "text":
            return self.text(value)
        if kind == "money":
            return self.money(value)
        if kind == "date":
            return self.date(value)
        if kind == "time":
            return self.time(value)
        if kind == "count":
            return self.count(value)
        if kind == "digits":
            return self.digit_string(value)
        raise VariableReadingError(f"unknown variable kind {kind!r} (known: {', '.join(VARIABLE_KINDS)})")

    def text(self, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise VariableReadingError(f"text variable needs a non-empty string, got {type(value).__name__}")
        return value.strip()

    def money(self, value: object) -> str:
        """3200.50 -> 三千二百元五角; 0.05 -> 五分; 1005.05 -> 一千零五元零五分."""
        amount = _to_decimal(value)
        if amount < 0:
            raise VariableReadingError("a money amount cannot be negative")
        cents_total = int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        yuan, cents = divmod(cents_total, 100)
        if yuan > _MAX_CARDINAL:
            raise VariableReadingError("money amount too large to read")
        jiao, fen = divmod(cents, 10)
        w = self.words
        out = ""
        if yuan or not cents:
            out = self.cardinal(yuan, bare_two=True) + w.yuan
        if jiao:
            out += w.digits[jiao] + w.jiao
        if fen:
            if yuan and not jiao:
                out += w.digits[0]
            out += w.digits[fen] + w.fen
        return out

    def date(self, value: object) -> str:
        """2026-12-02 -> 十二月二日 (the year is implied in a reminder call)."""
        day = _to_date(value)
        w = self.words
        text = self.cardinal(day.month) + w.month + self.cardinal(day.day) + w.day
        if isinstance(value, dt.datetime):
            text += self.time(value.time())
        return text

    def time(self, value: object) -> str:
        """15:30 -> 下午三点三十分; 09:05 -> 上午九点零五分; 12:00 -> 中午十二点; 00:30 -> 凌晨零点三十分."""
        clock = _to_time(value)
        w = self.words
        period = ""
        for first_hour, word in w.periods:
            if clock.hour >= first_hour:
                period = word
        hour12 = 12 if clock.hour == 12 else clock.hour % 12  # 00:30 -> 零点三十分
        out = period + self.cardinal(hour12, bare_two=True) + w.hour
        if clock.minute:
            minute = self.cardinal(clock.minute)
            if clock.minute < 10:
                minute = w.digits[0] + minute
            out += minute + w.minute
        return out

    def count(self, value: object) -> str:
        """2 -> 两 (两天, 两期); 23 -> 二十三; 2000 -> 两千."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise VariableReadingError(f"count variable needs an int, got {type(value).__name__}")
        if value < 0:
            return self.words.negative + self.cardinal(-value, bare_two=True)
        return self.cardinal(value, bare_two=True)

    def digit_string(self, value: object) -> str:
        """'13800138000' -> 幺三八零零幺三八零零零; spaces, dashes, '+' and brackets are skipped."""
        if not isinstance(value, str):
            raise VariableReadingError(f"digits variable needs a string, got {type(value).__name__}")
        out: list[str] = []
        for ch in value:
            if ch.isascii() and ch.isdigit():
                d = int(ch)
                out.append(self.words.phone_one if d == 1 else self.words.digits[d])
            elif ch not in _DIGIT_SEPARATORS:
                raise VariableReadingError(f"digits variable holds a non-digit character {ch!r}")
        if not out:
            raise VariableReadingError("digits variable holds no digits")
        return "".join(out)

    # --- the cardinal reader everything above builds on -------------------------------------

    def cardinal(self, n: int, *, bare_two: bool = False) -> str:
        """Read a non-negative integer: 10 -> 十, 1005 -> 一千零五, 100010 -> 十万零一十.

        `bare_two` selects the spoken 两 for a leading 2 before 百/千/万/亿 and for 2 alone (counts and
        whole yuan); dates and clock minutes keep 二 (二月, 十二分).
        """
        if n < 0 or n > _MAX_CARDINAL:
            raise VariableReadingError(f"number out of range: {n}")
        w = self.words
        if n == 0:
            return w.digits[0]
        groups: list[int] = []
        while n:
            n, g = divmod(n, 10000)
            groups.append(g)
        parts: list[str] = []
        zero_pending = False
        for index in range(len(groups) - 1, -1, -1):
            g = groups[index]
            if g == 0:
                zero_pending = bool(parts)
                continue
            if parts and (zero_pending or g < 1000):
                parts.append(w.digits[0])
            zero_pending = False
            parts.append(self._group(g))
            if index:
                parts.append(w.big_units[index - 1])
        text = "".join(parts)
        ten_one = w.digits[1] + w.small_units[0]
        if text.startswith(ten_one):
            text = text[len(w.digits[1]) :]
        if bare_two and text.startswith(w.digits[2]):
            rest = text[len(w.digits[2]) :]
            if not rest or rest.startswith((w.small_units[1], w.small_units[2], *w.big_units)):
                text = w.two_leading + rest
        return text

    def _group(self, g: int) -> str:
        """A 1-9999 group with inner zeros read once and trailing zeros silent."""
        w = self.words
        units = ("", w.small_units[0], w.small_units[1], w.small_units[2])
        out: list[str] = []
        zero = False
        for power in (3, 2, 1, 0):
            d = g // 10**power % 10
            if d == 0:
                zero = bool(out)
                continue
            if zero:
                out.append(w.digits[0])
                zero = False
            out.append(w.digits[d] + units[power])
        return "".join(out)


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise VariableReadingError("money variable needs a number, got bool")
    if isinstance(value, Decimal | int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise VariableReadingError("money variable is not a number") from None
    else:
        raise VariableReadingError(f"money variable needs a number, got {type(value).__name__}")
    if not amount.is_finite():
        raise VariableReadingError("money variable is not a finite number")
    return amount


def _to_date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise VariableReadingError("date variable is not YYYY-MM-DD") from None
    raise VariableReadingError(f"date variable needs a date, got {type(value).__name__}")


def _to_time(value: object) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            raise VariableReadingError("time variable is not HH:MM") from None
    raise VariableReadingError(f"time variable needs a time, got {type(value).__name__}")

"""Dates and amounts in borrowers' replies (zh-CN), as ASR writes them.

Rule-based on purpose: the expressions are a small closed set (relative days, weekdays, day of
month, Chinese numerals with colloquial tails such as 三千五 = 3500), and every reading must be
explainable to operations staff. The vocabularies below are lexical parsing tables, not prompts.

Dates resolve against an explicit ``today`` so callers (and tests) fix the clock. Weeks start on
Monday. Unparseable text yields ``None``, never an exception.

Readings beyond the issue's list, chosen so a promise date is never in the past unless
said so: 31号 in a shorter month is its last day; 这个月N号 already past gives no date (on
the 28th, "这个月25号" is most likely a slip for another day; guessing next month or a past
day would record a wrong promise); 12/5 and 12-5 are month/day (the Chinese order), the
next such day; 周末 is the coming Saturday; 月中 the 15th; 月初/下个月初 the 1st of next month; 年底
31 December; 半个月 15 days; 两三天 3 days; N个月后 the same day N months on. Vague words (马上,
过几天, 下周 without a weekday) give no date. With several dates, the first one not followed
by a refusal or a reason ("今天还不了 明天还", "15号发工资") wins. Ranges of amounts (两三千, 五六百) give
no amount; with several amounts the one right after a paying verb wins. Phone, hotline
and account numbers are not amounts: a bare run of five or more Arabic digits (no 块/元)
counts only right after a repaying verb (还/付/交/转/存/补, not 打, which also means "dial"),
and after 打/拨/电话/热线/号码 a bare digit run is a number to call (打12378, 拨110), never money.

Run ``python -m dialogue.slots --today 2026-11-28 "下周五还三千五"`` to see one reading.
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.errors import ConfigError
from dialogue.soundalike import SoundAlike, ToleranceSpec, default_tolerance

__all__ = [
    "DEFAULT_PARTS_OF_DAY", "Slots", "TimeOfDay", "extract_slots", "parse_amount", "parse_date", "parse_numeral",
    "parse_time", "read_heard",
]

# A part of day said without a clock time ("明天下午") is called back at this hour; `[dialogue]
# callback_morning/afternoon/evening` in server.toml change it.
DEFAULT_PARTS_OF_DAY: dict[str, str] = {"morning": "10:00", "afternoon": "15:00", "evening": "19:00"}


@dataclass(frozen=True)
class TimeOfDay:
    """A time a borrower named: a clock time, a part of day, or a delay from now ("一个小时以后")."""

    time: str | None  # HH:MM (a part of day is mapped to its configured hour)
    part_of_day: str | None = None  # morning / afternoon / evening when no clock time was said
    in_minutes: int | None = None  # a delay from now; `time` is then None


@dataclass(frozen=True)
class Slots:
    date: datetime.date | None
    amount: float | None
    time: str | None = None  # HH:MM
    part_of_day: str | None = None
    in_minutes: int | None = None


def extract_slots(text: str, today: datetime.date, parts_of_day: dict[str, str] | None = None) -> Slots:
    when = parse_time(text, parts_of_day)
    return Slots(date=parse_date(text, today), amount=parse_amount(text), time=when.time if when else None,
                 part_of_day=when.part_of_day if when else None, in_minutes=when.in_minutes if when else None)


# --------------------------------------------------------------------------- numerals

_DIGIT_VALUES = {
    "零": 0, "〇": 0, "洞": 0,
    "一": 1, "幺": 1, "壹": 1,
    "二": 2, "两": 2, "俩": 2, "贰": 2,
    "三": 3, "叁": 3,
    "四": 4, "肆": 4,
    "五": 5, "伍": 5,
    "六": 6, "陆": 6,
    "七": 7, "柒": 7,
    "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}  # fmt: skip
_UNIT_VALUES = {
    "十": 10, "拾": 10,
    "百": 100, "佰": 100,
    "千": 1000, "仟": 1000, "k": 1000,
    "万": 10_000, "萬": 10_000, "w": 10_000,
    "亿": 100_000_000,
}  # fmt: skip
_SECTION_UNITS = {10_000, 100_000_000}
_CN_DIGITS = "".join(_DIGIT_VALUES)
_CN_UNITS = "".join(u for u in _UNIT_VALUES if not u.isascii())
_ARABIC = r"\d+(?:\.\d+)?"
_NUMERAL = rf"(?:{_ARABIC}[kw]?|[{_CN_DIGITS}{_CN_UNITS}])+"
_NUMERAL_RE = re.compile(_NUMERAL)
_TOKEN_RE = re.compile(rf"{_ARABIC}|[{_CN_DIGITS}{_CN_UNITS}]|(?<=\d)[kw]")


def _normalize(text: str) -> str:
    """Fold full-width forms, drop ASR spacing and thousands separators between digits, and read
    misheard numerals and date words as what was said (`read_heard`)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = re.sub(r"\s+", "", folded)
    return read_heard(re.sub(r"(?<=\d)[,，](?=\d{3})", "", folded))


# --------------------------------------------------------------------------- recognizer errors

_NUMERAL_CHARS = frozenset(_CN_DIGITS + _CN_UNITS + "0123456789")
_DIGIT_CHARS = frozenset(_CN_DIGITS + "0123456789") - {"零", "〇", "洞"}
_CURRENCY = frozenset("块元")
_DAY_RUN_RE = re.compile(
    rf"(?<![{_CN_DIGITS}{_CN_UNITS}\d])(?<!周)(?<!星期)(?<!礼拜)(?:\d{{1,2}}|[{_CN_DIGITS}十]{{1,3}})$"
)


def read_heard(text: str, spec: ToleranceSpec | None = None) -> str:
    """Recognizer errors around numbers and dates, undone by the tables of asr_tolerance.toml ``[slots]``.

    Each rule needs a numeral beside the character, so ordinary words keep their meaning: 好 is 号 only
    after a day number said alone ("十五好", not "五百好吗" or "周五好"), 快 is 块 after a numeral, 完/前/白
    are 万/千/百 between a digit and a numeral, 块/元 or the end, 是/时 is 十 between a digit and a digit,
    号, 块 or 元. Date words are read by sound (`SoundAlike`, "金天" for 今天)."""
    spec = spec or default_tolerance()
    text = _date_words(spec).repair(spec.fold_variants(text))
    chars = list(text)
    for i, ch in enumerate(chars):
        before = chars[i - 1] if i else ""
        after = chars[i + 1] if i + 1 < len(chars) else ""
        if ch in spec.day_suffix:
            run = _DAY_RUN_RE.search("".join(chars[:i]))
            day = parse_numeral(run.group()) if run else None
            if day is not None and 1 <= day <= 31:
                chars[i] = "号"
        elif ch in spec.currency and before and before in _NUMERAL_CHARS:
            chars[i] = "块"
        elif ch in spec.units and before in _DIGIT_CHARS and (not after or after in _NUMERAL_CHARS | _CURRENCY):
            chars[i] = spec.units[ch]
        elif ch in spec.ten and before in _DIGIT_CHARS and after in _DIGIT_CHARS | _CURRENCY | {"号"}:
            chars[i] = "十"
    return "".join(chars)


@functools.cache
def _date_words(spec: ToleranceSpec) -> SoundAlike:
    """Built once per tables file, after checking the part of it only this parser can judge."""
    for spelled, read in spec.units.items():
        if read not in _UNIT_VALUES or read.isascii():
            raise ConfigError(spec.source, f"slots.units.{spelled}", f"one of the units {' '.join(_CN_UNITS)}", read)
    return SoundAlike(spec.slot_keywords, spec.folds)


def parse_numeral(numeral: str) -> float | None:
    """Value of a numeral in Arabic digits, Chinese digits or a mix ("3千5", "1.2万", "两万五").

    A trailing digit after a unit is the colloquial next order (三千五 = 3500, 九百九 = 990) unless
    a 零 intervenes (三千零五 = 3005). Runs of bare Chinese digits such as 两三 or 五六 are ranges
    ("two or three thousand"), not a number, so they give ``None``.
    """
    tokens = _TOKEN_RE.findall(numeral)
    if not tokens or "".join(tokens) != numeral:
        return None
    total = 0.0
    section = 0.0
    current: float | None = None
    last_unit = 0
    zero_seen = False
    previous_was_cn_digit = False
    for token in tokens:
        if token in _DIGIT_VALUES:
            value = _DIGIT_VALUES[token]
            if value == 0:
                zero_seen = True
                previous_was_cn_digit = False
                continue
            if previous_was_cn_digit or current is not None:
                return None  # 两三千, 五六百, 5五: a range or noise, not one amount
            current = float(value)
            previous_was_cn_digit = True
        elif token in _UNIT_VALUES:
            unit = _UNIT_VALUES[token]
            previous_was_cn_digit = False
            if unit in _SECTION_UNITS:
                section += current or 0.0
                if section == 0.0:
                    return None
                total += section * unit
                section = 0.0
            else:
                if current is None and not (unit == 10 and section == 0.0 and total == 0.0):
                    return None  # a bare unit inside a number ("三百千")
                section += (current if current is not None else 1.0) * unit
            current = None
            last_unit = unit
            zero_seen = False
        else:
            if current is not None:
                return None
            current = float(token)
            previous_was_cn_digit = False
    if current is not None:
        if last_unit >= 10 and not zero_seen and current < 10 and current == int(current):
            current *= last_unit / 10
        section += current
    return total + section


# --------------------------------------------------------------------------- amounts

# What may follow a number that is an amount, and what marks a number as something else.
_CURRENCY_AFTER = ("块钱", "块", "元", "圆", "rmb", "人民币", "大洋")
_NOT_AMOUNT_AFTER = (
    "号", "日", "月", "年", "天", "周", "星期", "礼拜", "点", "点钟", "个", "次", "期", "岁", "分钟",
    "小时", "秒", "倍", "%", "成", "折", "楼", "层", "家", "笔", "张", "位", "口", "人", "台", "辆",
    "斤", "米", "公里", "页", "条", "遍", "下", "部分", "半", "份", "分之", "句", "声", "起", "定",
    "直", "样", "般", "共", "些", "会", "边", "晚", "早", "辈子", "来天", "来个", "来次", "来号", "来岁",
    "回", "趟", "路",
)  # fmt: skip
_NOT_AMOUNT_BEFORE = ("第", "之", "周", "星期", "礼拜", "初", "分", "尾号", "号码", "工号")
_PAY_VERBS = ("还", "付", "转", "打", "给", "交", "存", "补")
_MAX_BARE_DIGITS = 6  # longer bare digit runs are phone, card or ID numbers
_MIN_NUMBER_DIGITS = 5  # from here a bare digit run is a hotline/phone number unless repaid
_RANGE_BEFORE = re.compile(r"\d[-~]$")
_REPAY_VERBS = ("还", "付", "交", "转", "存", "补")
# A bare digit run right after these is something to dial (打12378, 拨打110, 热线95588).
_DIAL_BEFORE = ("打", "拨", "拨打", "致电", "电话", "热线", "号码", "号", "打电话", "电话号")


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    value: float
    has_currency: bool


def parse_amount(text: str) -> float | None:
    """The money amount a reply mentions, or ``None``.

    Numbers that are dates, times, counts or installments are skipped. When several amounts
    remain, the first one right after a paying verb wins ("欠五千我先还两千" means 2000), else
    the first one.
    """
    normalized = _mask_dates(_normalize(text))
    candidates = _amount_candidates(normalized)
    if not candidates:
        return None
    for candidate in candidates:
        before = normalized[max(0, candidate.start - 3) : candidate.start]
        if any(verb in before for verb in _PAY_VERBS):
            return candidate.value
    return candidates[0].value


def _amount_candidates(text: str) -> list[_Candidate]:
    candidates = []
    for match in _NUMERAL_RE.finditer(text):
        start, end = match.span()
        numeral = match.group()
        # A number cannot start with a unit: 万一, 千万, 百分之 are words, not amounts.
        while numeral and numeral[0] in _UNIT_VALUES and numeral[0] not in "十拾":
            numeral = numeral[1:]
            start += 1
        if not numeral:
            continue
        after, before = text[end:], text[:start]
        if any(after.startswith(word) for word in _NOT_AMOUNT_AFTER):
            continue
        if any(before.endswith(word) for word in _NOT_AMOUNT_BEFORE):
            continue
        if _RANGE_BEFORE.search(before):
            continue  # the upper end of a range such as 1-2千 or 3~5千
        value = parse_numeral(numeral)
        if value is None or value <= 0:
            continue
        has_currency = any(after.startswith(word) for word in _CURRENCY_AFTER) or before.endswith(("¥", "￥"))
        if has_currency:
            value += _fraction_after_currency(after)
        else:
            if value < 10:
                continue  # a bare 一 or 3 is almost never an amount ("先还一点", "还3期")
            if numeral.isdigit() and len(numeral) > _MAX_BARE_DIGITS:
                continue
            if numeral.isdigit() and _is_number_to_dial(numeral, before):
                continue
        candidates.append(_Candidate(start, end, value, has_currency))
    return candidates


def _is_number_to_dial(digits: str, before: str) -> bool:
    """A bare Arabic digit run that names a phone line rather than money (打12378 投诉, 拨110)."""
    if before.endswith(_DIAL_BEFORE):
        return True
    return len(digits) >= _MIN_NUMBER_DIGITS and not before.endswith(_REPAY_VERBS)


_FRACTION_RE = re.compile(rf"^(?:块钱|块|元|圆)([{_CN_DIGITS}\d])(毛|角)?(?![{_CN_DIGITS}{_CN_UNITS}\d])")


def _fraction_after_currency(after: str) -> float:
    """三块五 = 3.5 and 十块五毛 = 10.5: one digit after 块/元 counts tenths."""
    match = _FRACTION_RE.match(after)
    if not match:
        return 0.0
    digit = match.group(1)
    value = _DIGIT_VALUES.get(digit)
    return (int(digit) if value is None else value) / 10


# --------------------------------------------------------------------------- dates

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
for _index in range(1, 8):
    _WEEKDAYS[str(_index)] = _index - 1
_WEEKDAY = "[一二三四五六日天七1-7]"
_WEEK = "(?:周|星期|礼拜|週)"
_DAY_NUMBER = rf"(?:\d{{1,2}}|[{_CN_DIGITS}十拾]{{1,3}})"
_MONTH_NUMBER = rf"(?:\d{{1,2}}|[{_CN_DIGITS}十拾]{{1,3}})"
_DAY_SUFFIX = "(?:号|日)"
_SMALL_COUNT = rf"(?:\d{{1,3}}|[{_CN_DIGITS}十拾百]{{1,4}})"

Resolver = Callable[[re.Match[str], datetime.date], "datetime.date | None"]


def _add_days(days: int) -> Resolver:
    return lambda match, today: today + datetime.timedelta(days=days)


def _month_end(year: int, month: int) -> datetime.date:
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def _shift_month(today: datetime.date, months: int) -> tuple[int, int]:
    index = today.year * 12 + today.month - 1 + months
    return index // 12, index % 12 + 1


def _day_in_month(year: int, month: int, day: int) -> datetime.date | None:
    """A day number in a given month; a day past the month's end means its last day (31号 in November)."""
    if not 1 <= day <= 31:
        return None
    return datetime.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _number(text: str) -> int | None:
    value = parse_numeral(text)
    if value is None or value != int(value):
        return None
    return int(value)


def _weekday_of_week(week_offset: int, fixed_weekday: int | None = None) -> Resolver:
    """Weekday X of the calendar week ``week_offset`` weeks from this one (0 = this week)."""

    def resolve(match: re.Match[str], today: datetime.date) -> datetime.date | None:
        weekday = _WEEKDAYS[match.group("weekday")] if fixed_weekday is None else fixed_weekday
        monday = today - datetime.timedelta(days=today.weekday())
        day = monday + datetime.timedelta(days=7 * week_offset + weekday)
        if week_offset == 0 and day < today:
            day += datetime.timedelta(days=7)
        return day

    return resolve


def _next_weekday(match: re.Match[str], today: datetime.date) -> datetime.date:
    """周X alone: the next such day strictly after today."""
    ahead = (_WEEKDAYS[match.group("weekday")] - today.weekday()) % 7
    return today + datetime.timedelta(days=ahead or 7)


def _weekend(match: re.Match[str], today: datetime.date) -> datetime.date:
    """周末: the coming Saturday, or today when today is already the weekend."""
    if today.weekday() >= 5:
        return today
    return today + datetime.timedelta(days=5 - today.weekday())


def _day_of_month(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    """N号: this month unless already past, else next month."""
    day = _number(match.group("day"))
    return None if day is None else _day_of_month_number(day, today)


def _day_of_month_number(day: int, today: datetime.date) -> datetime.date | None:
    if not 1 <= day <= 31:
        return None
    this_month = _day_in_month(today.year, today.month, day)
    if this_month is not None and this_month >= today:
        return this_month
    return _day_in_month(*_shift_month(today, 1), day)


def _day_of_relative_month(months: int) -> Resolver:
    def resolve(match: re.Match[str], today: datetime.date) -> datetime.date | None:
        day = _number(match.group("day"))
        if day is None:
            return None
        resolved = _day_in_month(*_shift_month(today, months), day)
        # 这个月25号 said on the 28th is a slip, not a promise for a past day: no date rather than a guess.
        if resolved is not None and resolved < today:
            return None
        return resolved

    return resolve


def _month_and_day(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    """X月N号: the next occurrence, this year or next."""
    month, day = _number(match.group("month")), _number(match.group("day"))
    if month is None or day is None or not 1 <= month <= 12:
        return None
    for year in (today.year, today.year + 1):
        try:
            candidate = datetime.date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def _full_date(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    try:
        return datetime.date(int(match.group("year")), int(match.group("month")), int(match.group("day")))
    except ValueError:
        return None


def _month_end_of(months: int) -> Resolver:
    return lambda match, today: _month_end(*_shift_month(today, months))


def _mid_month(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    """月中: the 15th, this month unless already past."""
    return _day_of_month_number(15, today)


def _start_of_next_month(match: re.Match[str], today: datetime.date) -> datetime.date:
    return datetime.date(*_shift_month(today, 1), 1)


def _days_later(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    days = _number(match.group("count"))
    if days is None or days > 366:
        return None
    return today + datetime.timedelta(days=days)


def _weeks_later(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    weeks = _number(match.group("count"))
    if weeks is None or weeks > 52:
        return None
    return today + datetime.timedelta(weeks=weeks)


def _months_later(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    months = _number(match.group("count"))
    if months is None or months > 24:
        return None
    year, month = _shift_month(today, months)
    return datetime.date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _year_end(match: re.Match[str], today: datetime.date) -> datetime.date:
    return datetime.date(today.year, 12, 31)


def _next_week_saturday(match: re.Match[str], today: datetime.date) -> datetime.date:
    monday = today - datetime.timedelta(days=today.weekday())
    return monday + datetime.timedelta(days=12)


# Most specific first: a later pattern never claims characters an earlier one matched.
_AFTER = "(?:后|之后|以后|过后)"
_WITHIN = "(?:内|之内|以内)"
_DATE_RULES: tuple[tuple[re.Pattern[str], Resolver], ...] = tuple(
    (re.compile(pattern), resolver)
    for pattern, resolver in (
        (r"(?P<year>\d{4})[-/.年](?P<month>\d{1,2})[-/.月](?P<day>\d{1,2})(?:号|日)?", _full_date),
        (rf"(?P<month>{_MONTH_NUMBER})月(?:份)?(?P<day>{_DAY_NUMBER}){_DAY_SUFFIX}", _month_and_day),
        (r"(?<![\d.])(?P<month>\d{1,2})[/-](?P<day>\d{1,2})(?:号|日)?(?![\d.%千万百十块元kw])", _month_and_day),
        (rf"(?:下个?月|下一个月)(?:的)?(?P<day>{_DAY_NUMBER}){_DAY_SUFFIX}", _day_of_relative_month(1)),
        (rf"(?:这个?月|本月|这一个月)(?:的)?(?P<day>{_DAY_NUMBER}){_DAY_SUFFIX}", _day_of_relative_month(0)),
        (r"(?:下个?月|下一个月)(?:的)?(?:月底|底|末|月末)", _month_end_of(1)),
        (r"(?:下个?月|下一个月)(?:的)?(?:月初|初)", _start_of_next_month),
        (r"(?:这个?月|本月)?(?:的)?(?:月底|月末)", _month_end_of(0)),
        (r"月初", _start_of_next_month),
        (r"(?:这个?月|本月)?(?:的)?月中", _mid_month),
        (rf"(?:这个?|本){_WEEK}(?:{_WITHIN})", _weekday_of_week(0, fixed_weekday=6)),
        (r"年底|年末", _year_end),
        (rf"下下个?{_WEEK}(?P<weekday>{_WEEKDAY})", _weekday_of_week(2)),
        (rf"(?:下个?|下一个?){_WEEK}(?:的)?(?:{_WEEK})?(?P<weekday>{_WEEKDAY})", _weekday_of_week(1)),
        (rf"(?:这个?|本){_WEEK}(?:的)?(?:{_WEEK})?(?P<weekday>{_WEEKDAY})", _weekday_of_week(0)),
        (r"下个?(?:周末|星期末|礼拜末)", _next_week_saturday),
        (r"(?:这个?|本)?(?:周末|礼拜末)", _weekend),
        (rf"{_WEEK}(?P<weekday>[一二三四五六日天1-7])", _next_weekday),
        (rf"(?P<day>{_DAY_NUMBER}){_DAY_SUFFIX}", _day_of_month),
        (rf"(?:过|再过)?(?:一两天|两天)(?:{_AFTER}|{_WITHIN})?|这两天|这两日", _add_days(2)),
        (rf"(?:过|再过)?两三天(?:{_AFTER}|{_WITHIN})?", _add_days(3)),
        (rf"(?:过|再过)?半个月(?:{_AFTER}|{_WITHIN})?", _add_days(15)),
        (rf"(?:过|再过)?(?P<count>{_SMALL_COUNT})(?:天|日)(?:{_AFTER}|{_WITHIN}|以?内)", _days_later),
        (rf"(?:过|再过)(?P<count>{_SMALL_COUNT})(?:天|日)", _days_later),
        (rf"(?P<count>{_SMALL_COUNT})(?:个)?(?:周|星期|礼拜)(?:{_AFTER}|{_WITHIN})", _weeks_later),
        (rf"(?P<count>{_SMALL_COUNT})个月(?:{_AFTER}|{_WITHIN})", _months_later),
        (r"大大后天", _add_days(4)),
        (r"大后天", _add_days(3)),
        (r"后天|后日", _add_days(2)),
        (r"明天|明日|明儿|明晚|明早|明个|名天", _add_days(1)),
        (r"今天|今日|今儿|今晚|今早|今个|当天|今夜", _add_days(0)),
    )
)
# A date followed by one of these is a reason or a refusal, not the promised day
# ("今天还不了 明天还", "15号发工资 16号还"); it is used only when no other date is given.
_DISCOUNTED_AFTER = ("不", "没", "发工资", "发薪", "才发", "到账", "回款", "有事", "不行")


@dataclass(frozen=True)
class _DateMention:
    start: int
    end: int
    date: datetime.date | None


def _date_mentions(text: str, today: datetime.date) -> list[_DateMention]:
    taken = [False] * len(text)
    mentions = []
    for pattern, resolver in _DATE_RULES:
        for match in pattern.finditer(text):
            start, end = match.span()
            if start == end or any(taken[start:end]):
                continue
            for index in range(start, end):
                taken[index] = True
            mentions.append(_DateMention(start, end, resolver(match, today)))
    mentions.sort(key=lambda mention: mention.start)
    return mentions


def parse_date(text: str, today: datetime.date) -> datetime.date | None:
    """The payment date a reply mentions, resolved against ``today``, or ``None``."""
    normalized = _normalize(text)
    mentions = [m for m in _date_mentions(normalized, today) if m.date is not None]
    if not mentions:
        return None
    for mention in mentions:
        after = normalized[mention.end : mention.end + 6]
        if not any(after.lstrip("还都就也").startswith(word) for word in _DISCOUNTED_AFTER):
            return mention.date
    return mentions[-1].date


def _mask_dates(text: str) -> str:
    """Blank out date expressions so their numbers (15号, 下周五) are never read as amounts."""
    if not text:
        return text
    chars = list(text)
    for mention in _date_mentions(text, datetime.date(2000, 1, 1)):
        for index in range(mention.start, mention.end):
            chars[index] = "|"
    for match in _CLOCK_DIGITS_RE.finditer(text):  # 8:30 is a time, not 30 yuan
        for index in range(*match.span()):
            chars[index] = "|"
    return "".join(chars)


_CLOCK_DIGITS_RE = re.compile(r"(?<![\d.])\d{1,2}:\d{2}(?![\d.])")


# --------------------------------------------------------------------------- times of day

_PARTS = (
    ("morning", "(?:上午|早上|早晨|清早|明早|今早|早)"),
    ("noon", "(?:中午|正午)"),
    ("afternoon", "(?:下午|午后)"),
    ("evening", "(?:晚上|今晚|明晚|傍晚|夜里|晚)"),
)
_PART_RE = "|".join(f"(?P<{name}>{pattern})" for name, pattern in _PARTS)
_HOUR = rf"(?P<hour>\d{{1,2}}|[{_CN_DIGITS}十]{{1,3}})"
_MINUTE = rf"(?P<minute>\d{{1,2}}|[{_CN_DIGITS}十]{{1,3}})"
_CLOCK_RE = re.compile(
    rf"(?:{_PART_RE})?(?:的)?(?:{_HOUR}(?:点钟?|時)(?:(?P<half>半)|(?P<quarter>一刻)|{_MINUTE}分?)?"
    rf"|(?P<hh>\d{{1,2}}):(?P<mm>\d{{2}}))"
)
# Alone, a bare 早/晚 is not a part of day (我早就还了, 太晚了).
_PART_ONLY_RE = re.compile("|".join(f"(?P<{name}>{pattern.replace('|早)', ')').replace('|晚)', ')')})"
                                    for name, pattern in _PARTS))
_DELAY_RE = re.compile(
    rf"(?:过|再过)?(?P<count>半|\d{{1,3}}|[{_CN_DIGITS}十]{{1,3}})(?:个)?(?P<half>半)?(?P<unit>小时|钟头|分钟)"
    rf"(?:{_AFTER}|左右{_AFTER}?)"
)
_HALF_HOUR_RE = re.compile(rf"(?:过|再过)?半(?:个)?(?:小时|钟头)(?:{_AFTER})")


def parse_time(text: str, parts_of_day: dict[str, str] | None = None) -> TimeOfDay | None:
    """A callback time in a reply: "晚上八点" 20:00, "明天下午" the afternoon hour, "一个小时以后" +60 min.

    Hours without a part of day read 1-7 as afternoon/evening (nobody asks for a call at 3 a.m.).
    """
    parts = {**DEFAULT_PARTS_OF_DAY, **(parts_of_day or {})}
    normalized = _normalize(text)
    delay = _DELAY_RE.search(normalized)
    if delay:
        count = 0.5 if delay.group("count") == "半" else _number(delay.group("count"))
        if count is not None and count > 0:
            minutes = count * (60 if delay.group("unit") != "分钟" else 1) + (30 if delay.group("half") else 0)
            if 0 < minutes <= 24 * 60:
                return TimeOfDay(None, in_minutes=int(minutes))
    if _HALF_HOUR_RE.search(normalized):
        return TimeOfDay(None, in_minutes=30)
    for match in _CLOCK_RE.finditer(normalized):
        if match.group("hh") is not None:
            hour, minute = int(match.group("hh")), int(match.group("mm"))
        else:
            hour_value = _number(match.group("hour"))
            if hour_value is None:
                continue
            hour = hour_value
            minute = 30 if match.group("half") else 15 if match.group("quarter") else 0
            if match.group("minute") is not None:
                minute_value = _number(match.group("minute"))
                if minute_value is None:
                    continue
                minute = minute_value
        part = next((name for name, _ in _PARTS if match.group(name)), None)
        afternoon = part in ("afternoon", "evening") and hour < 12
        if afternoon or (part == "noon" and hour < 11) or (part is None and 1 <= hour <= 7):
            hour += 12
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            return TimeOfDay(f"{hour:02d}:{minute:02d}")
    only = _PART_ONLY_RE.search(normalized)
    if only:
        part = next(name for name, _ in _PARTS if only.group(name))
        if part in parts:
            return TimeOfDay(parts[part], part_of_day=part)
    return None


# --------------------------------------------------------------------------- command line


def _json_amount(amount: float | None) -> float | int | None:
    if amount is None:
        return None
    return int(amount) if amount == int(amount) else amount


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialogue.slots", description=__doc__)
    parser.add_argument(
        "--today",
        type=datetime.date.fromisoformat,
        default=datetime.date.today(),
        help="date that relative expressions count from (YYYY-MM-DD; default: the system date)",
    )
    parser.add_argument("--now", type=datetime.time.fromisoformat, default=None,
                        help="time of day (HH:MM) that delays such as 一个小时以后 count from")
    parser.add_argument("text")
    args = parser.parse_args(argv)
    slots = extract_slots(args.text, args.today)
    payload: dict[str, object] = {
        "date": slots.date.isoformat() if slots.date else None, "amount": _json_amount(slots.amount),
        "time": slots.time, "part_of_day": slots.part_of_day, "in_minutes": slots.in_minutes,
    }
    if slots.in_minutes is not None and args.now is not None:
        moment = datetime.datetime.combine(args.today, args.now) + datetime.timedelta(minutes=slots.in_minutes)
        payload["date"], payload["time"] = moment.date().isoformat(), moment.strftime("%H:%M")
    print(json.dumps(payload, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

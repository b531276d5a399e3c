"""Variables are read the way a Mandarin speaker says them, and bad values are refused with a reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from config.errors import ConfigError
from prompts.numbers import NumberReader, VariableReadingError, load_number_words

READER = NumberReader()


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (3200.50, "三千二百元五角"),
        ("3200.50", "三千二百元五角"),
        (3200, "三千二百元"),
        (0.05, "五分"),
        (0.5, "五角"),
        (1005.05, "一千零五元零五分"),
        (1010.55, "一千零一十元五角五分"),
        (10, "十元"),
        (15.3, "十五元三角"),
        (2, "两元"),
        (200, "两百元"),
        (2000, "两千元"),
        (22000, "两万二千元"),
        (12000, "一万二千元"),
        (100010, "十万零一十元"),
        (10000000, "一千万元"),
        (100000000, "一亿元"),
        (1000000001, "十亿零一元"),
        (50000.0, "五万元"),
        (10050.7, "一万零五十元七角"),
        ("12,345.67", "一万二千三百四十五元六角七分"),
        (0, "零元"),
        (99.999, "一百元"),
    ],
)
def test_money(amount: object, words: str) -> None:
    """A table of amounts reads as 元/角/分 with 零 and 两 where a speaker puts them."""
    assert READER.speak("money", amount) == words


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (dt.date(2026, 12, 2), "十二月二日"),
        (dt.date(2026, 1, 1), "一月一日"),
        (dt.date(2026, 2, 22), "二月二十二日"),
        (dt.date(2026, 10, 10), "十月十日"),
        (dt.date(2026, 11, 30), "十一月三十日"),
        ("2026-12-02", "十二月二日"),
        (dt.datetime(2026, 12, 2, 15, 30), "十二月二日下午三点三十分"),
    ],
)
def test_dates(value: object, words: str) -> None:
    """Dates read as month and day (二月 keeps 二), with the time of day when there is one."""
    assert READER.speak("date", value) == words


@pytest.mark.parametrize(
    ("value", "words"),
    [("15:30", "下午三点三十分"), ("09:05", "上午九点零五分"), ("12:00", "中午十二点"), ("00:30", "凌晨零点三十分"),
     (dt.time(20, 15), "晚上八点十五分"), ("02:00", "凌晨两点")],
)
def test_times(value: object, words: str) -> None:
    """Clock times read with the period of the day and 零 before single-digit minutes."""
    assert READER.speak("time", value) == words


def test_digits_read_one_by_one_with_yao() -> None:
    """Phone numbers are read digit by digit, 1 as 幺, separators skipped."""
    assert READER.speak("digits", "13800138000") == "幺三八零零幺三八零零零"
    assert READER.speak("digits", "+86 138-0013") == "八六幺三八零零幺三"
    assert READER.speak("digits", "0021") == "零零二幺"


@pytest.mark.parametrize(("n", "words"), [(1, "一"), (2, "两"), (12, "十二"), (20, "二十"), (23, "二十三"),
                                          (102, "一百零二"), (202, "两百零二"), (110, "一百一十"), (-3, "负三")])
def test_counts(n: int, words: str) -> None:
    """Counts (overdue days, instalments) use 两 for a bare 2 and 一百一十 inside numbers."""
    assert READER.speak("count", n) == words


def test_text_passes_through_trimmed() -> None:
    """Names are spoken as written."""
    assert READER.speak("text", " 张先生 ") == "张先生"


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("money", "abc", "not a number"),
        ("money", -5, "negative"),
        ("money", True, "bool"),
        ("money", float("nan"), "finite"),
        ("date", "2026-13-01", "YYYY-MM-DD"),
        ("date", 20261201, "needs a date"),
        ("digits", "138x", "non-digit"),
        ("digits", "--", "no digits"),
        ("count", 2.5, "needs an int"),
        ("text", "  ", "non-empty"),
        ("time", "25:00", "HH:MM"),
        ("colour", "red", "unknown variable kind"),
    ],
)
def test_bad_values_are_refused(kind: str, value: object, reason: str) -> None:
    """Values that cannot be read for their kind raise VariableReadingError saying why."""
    with pytest.raises(VariableReadingError, match=reason):
        READER.speak(kind, value)


def test_word_table_is_validated(tmp_path: Path) -> None:
    """A word table with the wrong number of digits fails at load with file and key."""
    bad = tmp_path / "words.toml"
    bad.write_text('digits = ["零"]\nsmall_units = ["十","百","千"]\nbig_units=["万","亿","万亿"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="digits"):
        load_number_words(bad)

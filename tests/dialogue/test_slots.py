"""Slot extraction: dates resolved against a fixed today, amounts in Arabic and Chinese numerals."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogue.slots import Slots, extract_slots, parse_amount, parse_date, parse_numeral

ROOT = Path(__file__).resolve().parents[2]
TUE = datetime.date(2026, 3, 10)  # a Tuesday in mid-month
SAT = datetime.date(2026, 11, 28)  # a Saturday near the end of a 30-day month
WED = datetime.date(2026, 12, 30)  # a Wednesday before the new year


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# (text, today, expected date, expected amount): replies as a recogniser writes them, expected
# values worked out by hand from a calendar, not by running the parser.
CASES: list[tuple[str, datetime.date, str | None, float | None]] = [
    ("我明天还三千五", TUE, "2026-03-11", 3500),
    ("后天 后天一定还", TUE, "2026-03-12", None),
    ("大后天还一千二", TUE, "2026-03-13", 1200),
    ("今天晚上还 九百九", TUE, "2026-03-10", 990),
    ("今晚就还", TUE, "2026-03-10", None),
    ("下周五还两万五", TUE, "2026-03-20", 25000),
    ("下星期一还", TUE, "2026-03-16", None),
    ("下礼拜三给你还五百块", TUE, "2026-03-18", 500),
    ("周五还", TUE, "2026-03-13", None),
    ("星期二还两千", TUE, "2026-03-17", 2000),
    ("礼拜天之前还", TUE, "2026-03-15", None),
    ("15号还", TUE, "2026-03-15", None),
    ("5号还三千", TUE, "2026-04-05", 3000),
    ("10号还", TUE, "2026-03-10", None),
    ("4月1号还一万", TUE, "2026-04-01", 10000),
    ("二月十号还", TUE, "2027-02-10", None),
    ("3月9号", TUE, "2027-03-09", None),
    ("12月31号", TUE, "2026-12-31", None),
    ("下个月8号还清", TUE, "2026-04-08", None),
    ("月底还", TUE, "2026-03-31", None),
    ("三天后还八百", TUE, "2026-03-13", 800),
    ("十天之后还", TUE, "2026-03-20", None),
    ("一周内还清", TUE, "2026-03-17", None),
    ("一个星期之内还", TUE, "2026-03-17", None),
    ("过两天还", TUE, "2026-03-12", None),
    ("这两天就还", TUE, "2026-03-12", None),
    ("我先还五百", TUE, None, 500),
    ("还 三 千 五 百 块", TUE, None, 3500),
    ("我能还1500", TUE, None, 1500),
    ("一千五百块钱", TUE, None, 1500),
    ("我会还的", TUE, None, None),
    ("我在开车", TUE, None, None),
    ("我没钱", TUE, None, None),
    ("明天 还 两千", TUE, "2026-03-11", 2000),
    ("名天还", TUE, "2026-03-11", None),
    ("下个礼拜五 还 3000 块", TUE, "2026-03-20", 3000),
    ("二十号之前还一千", TUE, "2026-03-20", 1000),
    ("我下个月五号还两千五", TUE, "2026-04-05", 2500),
    ("等我发了工资 25号还", TUE, "2026-03-25", None),
    ("今天还不了 后天还", TUE, "2026-03-12", None),
    ("我就还了一半", TUE, None, None),
    ("分三期 每期一千", TUE, None, 1000),
    ("一万二", TUE, None, 12000),
    ("两千块", TUE, None, 2000),
    ("还款金额是3500元吗", TUE, None, 3500),
    ("星期天还", TUE, "2026-03-15", None),
    ("下周日", TUE, "2026-03-22", None),
    ("周六还六百", TUE, "2026-03-14", 600),
    ("大后天下午", TUE, "2026-03-13", None),
    ("这周五之前", TUE, "2026-03-13", None),
    ("周一还", SAT, "2026-11-30", None),
    ("下周一还", SAT, "2026-11-30", None),
    ("星期六还", SAT, "2026-12-05", None),
    ("下周六", SAT, "2026-12-05", None),
    ("月底还", SAT, "2026-11-30", None),
    ("下个月1号", SAT, "2026-12-01", None),
    ("3号还", SAT, "2026-12-03", None),
    ("30号还", SAT, "2026-11-30", None),
    ("1月5号还", SAT, "2027-01-05", None),
    ("过两天", SAT, "2026-11-30", None),
    ("一周内", SAT, "2026-12-05", None),
    ("明天还两千五百块", SAT, "2026-11-29", 2500),
    ("明天还", WED, "2026-12-31", None),
    ("后天还", WED, "2027-01-01", None),
    ("下周二还", WED, "2027-01-05", None),
    ("5号还", WED, "2027-01-05", None),
    ("下个月10号", WED, "2027-01-10", None),
    ("月底", WED, "2026-12-31", None),
    ("三天后", WED, "2027-01-02", None),
    ("我只有三百块", TUE, None, 300),
    ("我先转一千过去", TUE, None, 1000),
    ("一次性还不了 先还两千行吗", TUE, None, 2000),
    ("我能还 1 2 0 0", TUE, None, 1200),
    ("还四千三", TUE, None, 4300),
    ("五千块钱 明天给你", TUE, "2026-03-11", 5000),
    ("大概两千左右", TUE, None, 2000),
    ("还 一万", TUE, None, 10000),
    ("十五号还两千", TUE, "2026-03-15", 2000),
    ("我欠你们多少", TUE, None, None),
    ("我下午三点还", TUE, None, None),
    ("我八号还四百", TUE, "2026-04-08", 400),
    ("先还八百 剩下的下个月", TUE, None, 800),
    ("每个月还五百", TUE, None, 500),
    ("还七千八百块", TUE, None, 7800),
    ("六百六十六", TUE, None, 666),
    ("三块五", TUE, None, 3.5),
    ("１２００元", TUE, None, 1200),
    ("3,500元", TUE, None, 3500),
    ("1.2万", TUE, None, 12000),
    ("三千零五", TUE, None, 3005),
    ("两三千吧", TUE, None, None),
    ("万一还不上呢", TUE, None, None),
    ("我手机号13812345678", TUE, None, None),
    ("一千来块", TUE, None, 1000),
    ("月中还", TUE, "2026-03-15", None),
    ("这周内还", TUE, "2026-03-15", None),
    ("伍佰元", TUE, None, 500),
    ("下个月的15号", TUE, "2026-04-15", None),
    ("星期5", TUE, "2026-03-13", None),
    ("下周 五 还 两千 五", TUE, "2026-03-20", 2500),
    ("两三天后还", TUE, "2026-03-13", None),
    ("半个月后", TUE, "2026-03-25", None),
    ("两个星期后", TUE, "2026-03-24", None),
    ("下月底", TUE, "2026-04-30", None),
    ("年底", TUE, "2026-12-31", None),
    ("下下周一", TUE, "2026-03-23", None),
    ("周末还", TUE, "2026-03-14", None),
    ("明天下午三点前还两千", TUE, "2026-03-11", 2000),
    ("三号还一半", TUE, "2026-04-03", None),
]


# Written later as whole replies to "when and how much can you pay?", on a Saturday (2026-11-28).
CASES += [
    (text, SAT, date, amount)
    for text, date, amount in [
        ("那我下周三还吧 先还一千五", "2026-12-02", 1500),
        ("我月底之前还清 三千二", "2026-11-30", 3200),
        ("等我发工资 下个月十号 还你们两千", "2026-12-10", 2000),
        ("明天中午前 把五百块 转过去", "2026-11-29", 500),
        ("后天吧 后天还八千", "2026-11-30", 8000),
        ("一个礼拜之内我还一万", "2026-12-05", 10000),
        ("我过两天还 大概两千左右", "2026-11-30", 2000),
        ("星期一给你还上三千五百块", "2026-11-30", 3500),
        ("下礼拜天前还 四千", "2026-12-06", 4000),
        ("12月15号还款 一万二", "2026-12-15", 12000),
        ("我这周日还吧", "2026-11-29", None),
        ("五天之后还六百六", "2026-12-03", 660),
        ("十号还两千吧", "2026-12-10", 2000),
        ("二十八号还", "2026-11-28", None),
        ("我今天就还九百", "2026-11-28", 900),
        ("今晚十点之前还一千", "2026-11-28", 1000),
        ("明天下午五点左右还款 三千", "2026-11-29", 3000),
        ("大后天 还 两 千 五", "2026-12-01", 2500),
        ("1月3号还清", "2027-01-03", None),
        ("我下周五发工资 到时候还五千", "2026-12-04", 5000),
        ("三天以后吧", "2026-12-01", None),
        ("我可能要下下周才能还", None, None),
        ("先还三百 剩下的月底还", "2026-11-30", 300),
        ("那个 嗯 我明天 还 一千", "2026-11-29", 1000),
        ("我还不了那么多 只能还八百", None, 800),
        ("这两天吧 两千块钱", "2026-11-30", 2000),
        ("下周二之前 还款一万五千元", "2026-12-01", 15000),
        ("我礼拜三还", "2026-12-02", None),
        ("15号 15号一定还", "2026-12-15", None),
        ("我一周之内还两千八", "2026-12-05", 2800),
        ("等十天后再还", "2026-12-08", None),
        ("我能先还 500 块吗", None, 500),
        ("我下周一还款 3000元", "2026-11-30", 3000),
        ("明儿个还", "2026-11-29", None),
        ("后天 我还 四千五", "2026-11-30", 4500),
        ("我这个月底还两万", "2026-11-30", 20000),
        ("下个月五号 还一千二百块", "2026-12-05", 1200),
        ("星期天还", "2026-11-29", None),
        ("我周六还", "2026-12-05", None),
    ]
]


# Second wave, on the same Saturday: hotline numbers, slash dates, a day of this month already past.
CASES += [
    (text, SAT, date, amount)
    for text, date, amount in [
        ("我要打12378投诉你们", None, None),
        ("你再打我就拨110了", None, None),
        ("打 12315 告你们", None, None),
        ("我明天打两千过去", "2026-11-29", 2000),
        ("打500块给你们", None, 500),
        ("我先还12000", None, 12000),
        ("转 15000 行吗", None, 15000),
        ("你们热线95588是吧", None, None),
        ("12/5还", "2026-12-05", None),
        ("12-5号还三千", "2026-12-05", 3000),
        ("我先还五千 剩下的12/20还", "2026-12-20", 5000),
        ("1/3 还清", "2027-01-03", None),
        ("11/25还", "2027-11-25", None),
        ("13/5还", None, None),
        ("还1-2千吧", None, None),
        ("这个月25号还", None, None),
        ("这个月30号还两千", "2026-11-30", 2000),
        ("本月28号还", "2026-11-28", None),
        ("这个月25号还不了 下个月5号还", "2026-12-05", None),
    ]
]


@pytest.mark.parametrize(("text", "today", "date", "amount"), CASES)
def test_reply_slots(text: str, today: datetime.date, date: str | None, amount: float | None) -> None:
    """Each hand-checked reply yields exactly the expected date and amount."""
    slots = extract_slots(text, today)
    assert Slots(slots.date, slots.amount) == Slots(d(date) if date else None, amount)


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("三千五", 3500), ("一千二", 1200), ("九百九", 990), ("两万五", 25000), ("十五", 15), ("二十", 20),
     ("一万零五百", 10500), ("三千零五十", 3050), ("二十五万", 250000), ("3千5", 3500), ("2万5", 25000),
     ("两千", 2000), ("一百", 100), ("十", 10), ("1w5", 15000), ("5k", 5000)],
)  # fmt: skip
def test_numeral_values(numeral: str, value: float) -> None:
    """Chinese, Arabic and mixed numerals, including colloquial tails, read as the intended number."""
    assert parse_numeral(numeral) == value


@pytest.mark.parametrize("numeral", ["两三", "五六百", "三百千", "万", ""])
def test_ranges_and_malformed_numerals_are_not_numbers(numeral: str) -> None:
    """A range like 两三千 or a unit with no digit is not one number."""
    assert parse_numeral(numeral) is None


@pytest.mark.parametrize("text", ["分三期还", "一个星期", "下午五点", "还差一点", "第二次", "百分之三十六", "两个孩子"])
def test_counts_times_and_installments_are_not_amounts(text: str) -> None:
    """Numbers that count periods, times or people are never reported as money."""
    assert parse_amount(text) is None


def test_day_past_month_end_clamps_to_last_day() -> None:
    """31号 in a 30-day month means that month's last day rather than nothing."""
    assert parse_date("31号还", datetime.date(2026, 11, 5)) == datetime.date(2026, 11, 30)


def test_impossible_calendar_date_is_none() -> None:
    """2月30号 does not exist, so no date is reported instead of a guess."""
    assert parse_date("2月30号", TUE) is None


_NUMERAL_ALPHABET = "0123456789零一二两三四五六七八九十百千万亿号日月周星期礼拜天后内下个这本今明大过两块元钱 .,kw还"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_NUMERAL_ALPHABET, max_size=20), st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 1, 1)))
def test_never_raises_on_numeral_soup(text: str, today: datetime.date) -> None:
    """Any jumble of numerals and date words gives a value or None, never an exception."""
    slots = extract_slots(text, today)
    assert slots.amount is None or slots.amount > 0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    """Arbitrary Unicode (emoji, control characters, other scripts) never raises."""
    extract_slots(text, TUE)


def test_command_line_prints_one_json_object() -> None:
    """`python -m dialogue.slots --today ...` prints the date and amount the dialogue would use."""
    completed = subprocess.run(
        [sys.executable, "-m", "dialogue.slots", "--today", "2026-03-10", "下周五还三千五"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert json.loads(completed.stdout) == {"date": "2026-03-20", "amount": 3500, "time": None, "part_of_day": None,
                                            "in_minutes": None}


@pytest.mark.parametrize(("text", "date", "time", "part", "minutes"), [
    ("你明天下午再打过来吧", "2026-11-29", "15:00", "afternoon", None),
    ("晚上八点", None, "20:00", None, None),
    ("一个小时以后", None, None, None, 60),
    ("明天上午十点", "2026-11-29", "10:00", None, None),
    ("下午三点半再打", None, "15:30", None, None),
    ("中午一点", None, "13:00", None, None),
    ("8:30打给我", None, "08:30", None, None),
    ("三点打过来", None, "15:00", None, None),
    ("半小时后再打", None, None, None, 30),
    ("两个半小时以后", None, None, None, 150),
    ("晚上再说", None, "19:00", "evening", None),
    ("我早就还了", None, None, None, None),
    ("太晚了", None, None, None, None),
])
def test_callback_times(text: str, date: str | None, time: str | None, part: str | None, minutes: int | None) -> None:
    """Callback times (issue 17): clock times, parts of day at their configured hour, delays from now."""
    slots = extract_slots(text, datetime.date(2026, 11, 28))
    assert (slots.date.isoformat() if slots.date else None, slots.time, slots.part_of_day, slots.in_minutes) == (
        date, time, part, minutes)
    assert slots.amount is None


def test_parts_of_day_use_the_configured_hours() -> None:
    """`parts_of_day` overrides the hour a part of day means."""
    assert extract_slots("明天下午", datetime.date(2026, 11, 28), {"afternoon": "14:30"}).time == "14:30"


def test_command_line_prints_the_callback_time() -> None:
    """The CLI prints the time; with --now a delay becomes a date and a clock time."""
    completed = subprocess.run(
        [sys.executable, "-m", "dialogue.slots", "--today", "2026-11-28", "--now", "20:30", "一个小时以后"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    out = json.loads(completed.stdout)
    assert (out["date"], out["time"], out["in_minutes"]) == ("2026-11-28", "21:30", 60)

"""Borrower records: valid ones parse, bad ones are refused naming the field, phones become E.164."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from dialogue_fakes import BORROWER_BASE
from hypothesis import given
from hypothesis import strategies as st

from dialogue.borrower import Borrower, BorrowerError, normalize_phone

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "borrower.example.json"


def test_example_file_parses() -> None:
    """config/borrower.example.json is a valid record with the documented fields."""
    borrower = Borrower.from_dict(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert borrower.phone == "+8613800138000" and borrower.due_date == dt.date(2026, 11, 16)
    assert borrower.stage == "M1" and borrower.value_tier == "high"
    assert Borrower.from_dict(borrower.to_dict()) == borrower


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("phone", "12345", "E.164"),
    ("amount_due", -5, "more than 0"),
    ("amount_due", "lots", "a number"),
    ("overdue_days", 1.5, "whole number"),
    ("due_date", "16/11/2026", "ISO date"),
    ("gender", "m", "one of"),
    ("value_tier", "gold", "one of"),
    ("risk_score", 5000, "0..1000"),
    ("timezone", "Mars/Olympus", "time zone"),
    ("name", "  ", "non-empty"),
    ("nickname", "x", "unknown field"),
])
def test_bad_field_is_named(field: str, value: object, reason: str) -> None:
    """Each bad value raises BorrowerError whose .field names the offending field and says why."""
    with pytest.raises(BorrowerError) as err:
        Borrower.from_dict({**BORROWER_BASE, field: value})
    assert err.value.field == field and reason in str(err.value)


def test_missing_required_field_is_named() -> None:
    """A record without `creditor` is refused naming `creditor`; optional fields get defaults."""
    record = {k: v for k, v in BORROWER_BASE.items() if k not in ("creditor", "gender", "timezone")}
    with pytest.raises(BorrowerError, match="creditor"):
        Borrower.from_dict(record)
    parsed = Borrower.from_dict({**record, "creditor": "某银行"})
    assert (parsed.gender, parsed.timezone) == ("unknown", "Asia/Shanghai")


@pytest.mark.parametrize(("raw", "e164"), [
    ("13800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("+86 138-0013-8000", "+8613800138000"),
    ("008613800138000", "+8613800138000"),
    ("8613800138000", "+8613800138000"),
    ("010-12345678", "+861012345678"),
    ("+14155550123", "+14155550123"),
])
def test_normalize_phone(raw: str, e164: str) -> None:
    """Common mainland spellings and foreign E.164 numbers normalise to E.164."""
    assert normalize_phone(raw) == e164


@given(st.text(max_size=20))
def test_normalize_phone_never_returns_garbage(raw: str) -> None:
    """Any string either normalises to a plausible E.164 number or raises BorrowerError naming `phone`."""
    try:
        result = normalize_phone(raw)
    except BorrowerError as exc:
        assert exc.field == "phone"
    else:
        assert result.startswith("+") and result[1:].isdigit() and 8 <= len(result) <= 16


@pytest.mark.parametrize(("days", "stage"), [(0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3")])
def test_stage_boundaries(days: int, stage: str) -> None:
    """Overdue stage follows M0 pre-due, M1 1-30, M2 31-60, M3 61+."""
    assert Borrower.from_dict({**BORROWER_BASE, "overdue_days": days}).stage == stage

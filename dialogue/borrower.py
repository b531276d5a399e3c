"""The borrower record a call is about, validated once so the dialogue never meets a half-filled record.

`Borrower.from_dict` is also the campaign import's row validator: it raises `BorrowerError` naming the
field and the reason, so an operator can fix row 17 of a CSV without reading a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GENDERS = ("male", "female", "unknown")
VALUE_TIERS = ("high", "normal")
FIELDS = (
    "id", "name", "gender", "phone", "amount_due", "overdue_days", "due_date", "product",
    "creditor", "risk_score", "value_tier", "timezone",
)
# Case fields beyond the borrower record: set only for a case referred to mediation (issue 13), read by the
# mediation notice set. Optional, so imports and allocation case files without them are unchanged.
CASE_FIELDS = ("mediator", "mediator_phone")
_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "gender": "unknown", "value_tier": "normal", "timezone": "Asia/Shanghai", "mediator": None, "mediator_phone": None,
}
_CONTACT_PHONE = re.compile(r"\d[\d\-]{3,19}")

_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_CN_LANDLINE = re.compile(r"0[1-9]\d{8,10}")  # area code + subscriber number, trunk prefix 0
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class BorrowerError(ValueError):
    """A borrower record field is missing or unusable; `field` names it for row-level import errors."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"borrower field {field!r}: {reason}")


def normalize_phone(raw: str) -> str:
    """Mainland numbers in any common spelling -> E.164 (`+8613800138000`); others must already be E.164."""
    if not isinstance(raw, str):
        raise BorrowerError("phone", f"expected a string, got {type(raw).__name__}")
    compact = re.sub(r"[\s\-()]", "", raw)
    if compact.startswith("0086"):
        compact = "+86" + compact[4:]
    elif compact.startswith("86") and _CN_MOBILE.fullmatch(compact[2:]):
        compact = "+" + compact
    if _CN_MOBILE.fullmatch(compact):
        return "+86" + compact
    if _CN_LANDLINE.fullmatch(compact):
        return "+86" + compact[1:]
    if compact.startswith("+86"):
        national = compact[3:]
        if _CN_MOBILE.fullmatch(national) or re.fullmatch(r"[1-9]\d{8,10}", national):
            return compact
        raise BorrowerError("phone", "a +86 number needs an 11-digit mobile or an area code and number")
    if _E164.fullmatch(compact):
        return compact
    raise BorrowerError("phone", "expected a mainland mobile/landline or an E.164 number such as +8613800138000")


@dataclass(frozen=True)
class Borrower:
    id: str
    name: str
    gender: str
    phone: str  # E.164
    amount_due: float
    overdue_days: int  # 0 means not yet due (pre-due reminder)
    due_date: dt.date
    product: str
    creditor: str  # what the bot says when it identifies itself (C4)
    risk_score: int  # credit-style score 0-1000: higher means lower risk
    value_tier: str
    timezone: str
    # A case referred to mediation (issue 13): the mediation organisation and its contact number, as
    # the mediation notice call says them. None for cases not in mediation.
    mediator: str | None = None
    mediator_phone: str | None = None

    @property
    def stage(self) -> str:
        """Overdue stage used by segments: M0 pre-due, M1 1-30, M2 31-60, M3 61+ days."""
        if self.overdue_days <= 0:
            return "M0"
        if self.overdue_days <= 30:
            return "M1"
        if self.overdue_days <= 60:
            return "M2"
        return "M3"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Borrower:
        if not isinstance(data, Mapping):
            raise BorrowerError("(record)", f"expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(FIELDS) - set(CASE_FIELDS))
        if unknown:
            raise BorrowerError(unknown[0], "unknown field (known: " + ", ".join((*FIELDS, *CASE_FIELDS)) + ")")
        values = {**_OPTIONAL_DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
        for name in FIELDS:
            if name not in values:
                raise BorrowerError(name, "required field is missing")
        return cls(
            id=_text(values, "id"),
            name=_text(values, "name"),
            gender=_choice(values, "gender", GENDERS),
            phone=normalize_phone(values["phone"]),
            amount_due=_amount(values["amount_due"]),
            overdue_days=_int(values, "overdue_days", 0, 36500),
            due_date=_date(values["due_date"]),
            product=_text(values, "product"),
            creditor=_text(values, "creditor"),
            risk_score=_int(values, "risk_score", 0, 1000),
            value_tier=_choice(values, "value_tier", VALUE_TIERS),
            timezone=_timezone(values["timezone"]),
            mediator=None if values["mediator"] is None else _text(values, "mediator"),
            mediator_phone=_contact_phone(values["mediator_phone"]),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_date"] = self.due_date.isoformat()
        for name in CASE_FIELDS:  # only a case in mediation carries them; other records keep their shape
            if data[name] is None:
                del data[name]
        return data


class BorrowerFileError(ValueError):
    """A borrower JSON file that cannot be read, parsed or validated; the message names the file."""


def load_borrower_file(path: Path) -> Borrower:
    """One borrower record from a JSON file (the `--borrower` option of several commands)."""
    try:
        with path.open(encoding="utf-8") as fh:
            return Borrower.from_dict(json.load(fh))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, BorrowerError) as exc:
        raise BorrowerFileError(f"borrower file {path}: {exc}") from None


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not value.strip():
        raise BorrowerError(name, "expected a non-empty string")
    return value.strip()


def _contact_phone(value: Any) -> str | None:
    """The mediator's number as it is read out digit by digit (`400-820-1234`, `02112345678`)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CONTACT_PHONE.fullmatch(value.strip()):
        raise BorrowerError("mediator_phone", f"expected 4-20 digits and hyphens, got {value!r}")
    return value.strip()


def _choice(values: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = values[name]
    if value not in choices:
        raise BorrowerError(name, f"expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _int(values: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    value = values[name]
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise BorrowerError(name, f"expected a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise BorrowerError(name, f"expected {lo}..{hi}, got {value}")
    return value


def _amount(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value.replace(",", ""))
        except ValueError:
            raise BorrowerError("amount_due", f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BorrowerError("amount_due", f"expected a number, got {value!r}")
    if value <= 0 or value > 100_000_000:
        raise BorrowerError("amount_due", f"expected more than 0 and at most 100000000, got {value}")
    return round(float(value), 2)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise BorrowerError("due_date", f"expected an ISO date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BorrowerError("due_date", f"expected an ISO date YYYY-MM-DD, got {value!r}") from None


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise BorrowerError("timezone", f"expected an IANA time zone name, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise BorrowerError("timezone", f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)") from None
    return value

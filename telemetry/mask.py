"""Masking of personal data before it can reach a log line (COMPLIANCE C11).

Masking happens twice: explicitly by field name (`mask_field`), and as a safety net over every
finished log line (`mask_text`) so a phone number pasted into a free-text message is still hidden.
"""

from __future__ import annotations

import re
from typing import Any

# Field names whose values are personal data. Matched case-insensitively, also as a suffix
# (`borrower_name`, `to_phone`), so new call sites are covered without editing this list.
_PHONE_KEYS = ("phone", "number", "msisdn", "caller", "callee", "uri", "to", "from_uri")
_NAME_KEYS = ("name", "honorific")
_SECRET_KEYS = ("id_number", "id_card", "amount", "amount_due", "ptp_amount", "password", "token", "text")

_DIGIT_RUN = re.compile(r"(?<![\d*])(\+?\d{7,})(?![\d*])")


def mask_phone(value: str) -> str:
    """`+8613800138000` -> `+86138****8000`; keeps enough to tell calls apart, not to dial."""
    digits = value.strip()
    prefix = ""
    if digits.startswith("+86") and len(digits) > 10:
        prefix, digits = "+86", digits[3:]
    elif digits.startswith("+"):
        prefix, digits = "+", digits[1:]
    if len(digits) <= 4:
        return prefix + "*" * len(digits)
    keep_head = 3 if len(digits) >= 10 else max(0, len(digits) - 7)
    return prefix + digits[:keep_head] + "****" + digits[-4:]


def mask_name(value: str) -> str:
    """`张伟` -> `张*`; the surname alone is not identifying in a call-center log."""
    value = value.strip()
    if not value:
        return value
    return value[0] + "*" * max(1, len(value) - 1)


def mask_text(text: str) -> str:
    """Mask every run of seven or more digits (phone, ID, account numbers) inside free text."""
    return _DIGIT_RUN.sub(lambda m: mask_phone(m.group(1)), text)


def _mask_sip_uri(value: str) -> str:
    # sip:+8613800138000@host -> sip:+86138****8000@host
    return mask_text(value)


def mask_field(key: str, value: Any) -> Any:
    """Mask one structured log field by what its name says it holds."""
    if value is None or isinstance(value, bool):
        return value
    lowered = key.lower()
    if any(lowered == k or lowered.endswith("_" + k) for k in _SECRET_KEYS):
        return "***"
    if any(lowered == k or lowered.endswith("_" + k) for k in _NAME_KEYS):
        return mask_name(str(value))
    if any(lowered == k or lowered.endswith("_" + k) for k in _PHONE_KEYS):
        return _mask_sip_uri(str(value))
    if isinstance(value, str):
        return mask_text(value)
    return value

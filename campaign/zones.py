"""Which local time zones a phone number may be in, from its country/area (PyPI `phonenumbers`).

Why: a borrower imported without a `timezone` is not in the campaign's zone just because the
campaign says so. A `+86` number rings in Asia/Shanghai even when the campaign was created with
`Asia/Dubai` (COMPLIANCE C1 is about the borrower's local time). The number's country is the best
evidence we have; where the country spans several zones (Russia, Australia, most of the US without
an area code) the caller must respect the window in all of them. Google's libphonenumber keeps the
mapping up to date, so we do not maintain our own table.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezone

_UNKNOWN = "Etc/Unknown"


@lru_cache(maxsize=4096)
def number_zones(phone: str) -> tuple[str, ...]:
    """IANA zones the number may ring in (sorted, deduplicated); () when nothing is known."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    names = phone_timezone.time_zones_for_number(parsed)
    known = _installed_zones()
    return tuple(sorted({name for name in names if name != _UNKNOWN and name in known}))


@lru_cache(maxsize=4096)
def number_zone_infos(phone: str) -> tuple[ZoneInfo, ...]:
    """`number_zones` as ZoneInfo objects, kept: ZoneInfo's own strong cache holds only 8 zones, and a
    16-zone country would reload its files on every gate check (milliseconds on the reactor)."""
    return tuple(ZoneInfo(name) for name in number_zones(phone))


@lru_cache(maxsize=1)
def _installed_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zones_for_numbers(phones: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Every zone any of the numbers may ring in."""
    found: set[str] = set()
    for phone in phones:
        found.update(number_zones(phone))
    return tuple(sorted(found))


def same_offset(zone_a: str, zone_b: str, at: float) -> bool:
    """Whether two zones show the same wall-clock time at `at` (Asia/Shanghai and Asia/Chongqing do)."""
    try:
        a, b = ZoneInfo(zone_a), ZoneInfo(zone_b)
    except (ZoneInfoNotFoundError, ValueError):
        return zone_a == zone_b
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    return when.astimezone(a).utcoffset() == when.astimezone(b).utcoffset()

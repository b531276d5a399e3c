"""The compliance gate every dial passes through: C1 window, C2/C3 caps, C7 opt-out (COMPLIANCE.md).

Why in code and not only in config: the legal bounds are re-applied here (`min`/`max` against the
constants in `config.campaign_config`), so a strategy built by hand, a callback at 23:00 or an
operator's "call now" is refused exactly like a scheduled call. The gate only answers; the caller
stores and logs each refusal with its rule id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from campaign.allocation_store import RECHECK_SECONDS, RULE_ALLOCATED_AWAY
from campaign.borrower_facts import fact_refusal
from campaign.mediation import is_notice_strategy, notice_refusal
from campaign.model import Refusal
from campaign.store import CampaignStore
from campaign.zones import number_zone_infos
from config.campaign_config import (
    DEFAULT_WINDOW_END,
    DEFAULT_WINDOW_START,
    LEGAL_MAX_UNANSWERED_PER_NUMBER_PER_DAY,
    LEGAL_WINDOW_END,
    LEGAL_WINDOW_START,
    PromiseSettings,
    Strategy,
)

RULE_WINDOW = "C1"
RULE_NUMBER_CAP = "C2"
RULE_BORROWER_CAP = "C3"
RULE_OPT_OUT = "C7"
RULE_INVALID_CONTACT = "INVALID_CONTACT"


@dataclass(frozen=True)
class CallWindow:
    """Local times [start, end) in which a call may start, already clipped to the legal bound."""

    start: dt.time
    end: dt.time

    def contains(self, local: dt.datetime) -> bool:
        return self.start <= local.time() < self.end


def effective_window(strategy: Strategy, timezone_known: bool) -> CallWindow:
    """Clip to 08:00-22:00 always; with an unknown zone also to the stricter default 08:00-21:00."""
    start = max(strategy.window_start, LEGAL_WINDOW_START)
    end = min(strategy.window_end, LEGAL_WINDOW_END)
    if not timezone_known:
        start = max(start, DEFAULT_WINDOW_START)
        end = min(end, DEFAULT_WINDOW_END)
    return CallWindow(start, end)


def local_midnight(day: dt.date, zone: ZoneInfo) -> float:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone).timestamp()


def day_bounds(now: float, zone: ZoneInfo) -> tuple[float, float]:
    """Unix start/end of the borrower's local calendar day (23 or 25 hours long on DST days)."""
    today = dt.datetime.fromtimestamp(now, zone).date()
    return local_midnight(today, zone), local_midnight(today + dt.timedelta(days=1), zone)


def week_start(now: float, zone: ZoneInfo) -> float:
    """Start of the rolling 7-local-day week ending today (stricter than a calendar week)."""
    today = dt.datetime.fromtimestamp(now, zone).date()
    return local_midnight(today - dt.timedelta(days=6), zone)


def next_window_open(now: float, zone: ZoneInfo, window: CallWindow) -> float:
    """The earliest moment >= now at which the window is open in `zone`."""
    local = dt.datetime.fromtimestamp(now, zone)
    if window.contains(local):
        return now
    day = local.date() if local.time() < window.start else local.date() + dt.timedelta(days=1)
    for _ in range(3):  # a start inside a DST gap moves to the next real instant; try following days
        candidate = dt.datetime.combine(day, window.start, tzinfo=zone).timestamp()
        if candidate >= now and window.contains(dt.datetime.fromtimestamp(candidate, zone)):
            return candidate
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, window.start, tzinfo=zone).timestamp()


def next_common_open(
    now: float, zones: tuple[ZoneInfo, ...], window: CallWindow, horizon_days: int = 3
) -> float | None:
    """The earliest moment >= now at which the window is open in every zone; None if none within the horizon.

    Walks forward: while some zone is closed at `t`, no common moment lies before that zone's next
    opening, so `t` jumps there; it stops when every zone is open. None: the zones are too far apart
    for one window (no safe moment at all).
    """
    moment, limit = now, now + horizon_days * 86400.0
    while moment <= limit:
        for zone in zones:
            if not window.contains(dt.datetime.fromtimestamp(moment, zone)):
                moment = next_window_open(moment, zone, window)
                break
        else:
            return moment
    return None


def span_of_days(now: float, zones: tuple[ZoneInfo, ...]) -> tuple[float, float]:
    """From the earliest start to the latest end of the local days `now` falls in: caps count all of them."""
    bounds = [day_bounds(now, zone) for zone in zones]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


class ComplianceGate:
    """Answers "may this number of this borrower be dialled now?" with `None` or a `Refusal`."""

    def __init__(
        self, store: CampaignStore, default_timezone: str, promises: PromiseSettings | None = None
    ) -> None:
        self.store = store
        self.default_zone = ZoneInfo(default_timezone)
        self.promises = promises or PromiseSettings()

    def zone_for(
        self, timezone: str | None, campaign_timezone: str | None = None, phone: str | None = None
    ) -> tuple[ZoneInfo, bool]:
        """One zone to plan in (the first of `zones_for`); the gate itself checks all of them."""
        zones, known = self.zones_for(timezone, campaign_timezone, phone)
        return zones[0], known

    def zones_for(
        self, timezone: str | None, campaign_timezone: str | None = None, phone: str | None = None
    ) -> tuple[tuple[ZoneInfo, ...], bool]:
        """The borrower's zone if given (known); else every zone of the number's country; else the campaign's.

        Only a zone given with the borrower counts as known: one taken from the number or the
        campaign still gets the stricter window (COMPLIANCE notes).
        """
        if timezone:
            return (ZoneInfo(timezone),), True
        from_number = number_zone_infos(phone) if phone else ()
        if from_number:
            return from_number, False
        return ((ZoneInfo(campaign_timezone) if campaign_timezone else self.default_zone),), False

    def check(
        self, *, borrower_id: str, phone: str, valid_contact: bool, timezone: str | None,
        campaign_timezone: str | None, strategy: Strategy, now: float, campaign_id: str | None = None,
        reason: str = "scheduled",
    ) -> Refusal | None:
        zones, known = self.zones_for(timezone, campaign_timezone, phone)
        if self.store.is_opted_out(phone):
            return Refusal(RULE_OPT_OUT, "the number asked not to be called (opt-out / DNC)")
        if not valid_contact:
            return Refusal(RULE_INVALID_CONTACT, "the number was recorded as a wrong or invalid number")
        # What the borrower said in any campaign (complaint, promise, paid claim, ...) holds in this one.
        by_fact = fact_refusal(
            self.store.open_facts(borrower_id), self.store.active_promises(borrower_id), phone=phone,
            campaign_id=campaign_id, reason=reason, now=now, grace_days=self.promises.grace_days,
            verify_days=self.promises.verify_days,
        )
        if by_fact is not None:
            return by_fact
        allocated = self.store.allocated_channel(borrower_id)  # issue 13: only channel `bot` is dialled
        if is_notice_strategy(strategy):  # ... except by a mediation-notice strategy, which dials only mediation
            notice = notice_refusal(allocated, self.store.allocated_step(borrower_id), now)
            if notice is not None:
                return notice
        elif allocated is not None and allocated[0] != "bot":
            return Refusal(RULE_ALLOCATED_AWAY, f"the case is allocated to {allocated[0]} (rule {allocated[1]})",
                           retry_at=now + RECHECK_SECONDS)
        window = effective_window(strategy, known)
        span = f"{window.start:%H:%M}-{window.end:%H:%M}"
        for zone in zones:
            local = dt.datetime.fromtimestamp(now, zone)
            if window.contains(local):
                continue
            retry_at = next_common_open(now, zones, window)
            where = zone.key if len(zones) == 1 else f"{zone.key}, one of the number's {len(zones)} zones"
            reason = f"local time {local:%H:%M} ({where}) is outside {span}"
            if retry_at is None:
                reason += "; no moment is inside the window in all of the number's zones: set the borrower's timezone"
            return Refusal(RULE_WINDOW, reason, retry_at=retry_at)
        day_start, day_end = span_of_days(now, zones)
        number_cap = min(strategy.max_unanswered_per_number_per_day, LEGAL_MAX_UNANSWERED_PER_NUMBER_PER_DAY)
        unanswered = self.store.count_unanswered_to_number(phone, day_start, day_end)
        if unanswered >= number_cap:
            return Refusal(
                RULE_NUMBER_CAP, f"{unanswered} unanswered attempts to this number today (cap {number_cap})",
                retry_at=next_common_open(day_end, zones, window),
            )
        per_day = self.store.count_attempts_to_borrower(borrower_id, day_start, day_end)
        if per_day >= strategy.max_attempts_per_borrower_per_day:
            return Refusal(
                RULE_BORROWER_CAP,
                f"{per_day} attempts to this borrower today (cap {strategy.max_attempts_per_borrower_per_day})",
                retry_at=next_common_open(day_end, zones, window),
            )
        since = min(week_start(now, zone) for zone in zones)  # the longest week of them all
        per_week = self.store.count_attempts_to_borrower(borrower_id, since, day_end)
        if per_week >= strategy.max_attempts_per_borrower_per_week:
            return Refusal(
                RULE_BORROWER_CAP,
                f"{per_week} attempts to this borrower in 7 days (cap {strategy.max_attempts_per_borrower_per_week})",
                retry_at=next_common_open(day_end, zones, window),
            )
        return None

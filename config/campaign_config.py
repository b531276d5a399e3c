"""Campaign, HTTP and store settings from `server.toml`, and dialing strategies from `strategies.toml`.

The legal bounds of COMPLIANCE.md (C1 window, C2/C3 caps, C10 retention) are checked here so a
strategy file that would loosen a rule fails at start-up with the key and the bound; the scheduler
enforces the same bounds again in code, so a bypassed config can never dial outside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.toml_reader import Table, load_toml

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_STRATEGIES_TOML = CONFIG_DIR / "strategies.toml"

# Legal bounds (COMPLIANCE.md). Code elsewhere imports these instead of repeating numbers.
LEGAL_WINDOW_START = time(8, 0)  # C1: no contact 22:00-08:00 local time
LEGAL_WINDOW_END = time(22, 0)
DEFAULT_WINDOW_START = time(8, 0)
DEFAULT_WINDOW_END = time(21, 0)
LEGAL_MAX_UNANSWERED_PER_NUMBER_PER_DAY = 6  # C2
DEFAULT_UNANSWERED_PER_NUMBER_PER_DAY = 3
DEFAULT_ATTEMPTS_PER_BORROWER_PER_DAY = 3  # C3
DEFAULT_ATTEMPTS_PER_BORROWER_PER_WEEK = 10
LEGAL_MIN_RETENTION_DAYS = 730  # C10

# SIP-level dispositions (telephony) and dialogue outcomes that retry spacing can be keyed by.
DIAL_DISPOSITIONS = ("busy", "no_answer", "rejected", "invalid_number", "trunk_error", "canceled", "unknown")
OUTCOME_DISPOSITIONS = (
    "promise_to_pay", "already_paid", "hardship", "negotiation", "refused", "wrong_number", "third_party",
    "callback", "complaint", "opt_out", "dispute", "no_response", "transferred", "hung_up",
)


@dataclass(frozen=True)
class PriorityWeights:
    """Score = base + per_overdue_day * overdue_days + per_thousand_due * amount_due / 1000."""

    base: float = 0.0
    per_overdue_day: float = 1.0
    per_thousand_due: float = 0.5


@dataclass(frozen=True)
class Strategy:
    name: str
    window_start: time = DEFAULT_WINDOW_START
    window_end: time = DEFAULT_WINDOW_END
    max_unanswered_per_number_per_day: int = DEFAULT_UNANSWERED_PER_NUMBER_PER_DAY
    max_attempts_per_borrower_per_day: int = DEFAULT_ATTEMPTS_PER_BORROWER_PER_DAY
    max_attempts_per_borrower_per_week: int = DEFAULT_ATTEMPTS_PER_BORROWER_PER_WEEK
    max_attempts_total: int = 30  # after this many attempts the borrower is 'exhausted'
    retry_seconds: dict[str, float] = field(default_factory=dict)  # by disposition or outcome
    default_retry_seconds: float = 7200.0
    trunk_error_backoff: float = 2.0  # multiplier per consecutive trunk error
    trunk_error_max_seconds: float = 1800.0
    ptp_check_days_after: int = 1
    priority: PriorityWeights = field(default_factory=PriorityWeights)
    # Promise follow-ups (docs/promises.md): a reminder this many days before the promised date
    # (0 = none); one call after a broken / partly kept promise when true.
    ptp_reminder_days_before: int = 0
    broken_promise_call: bool = True
    partly_kept_call: bool = True
    broken_promise_script_set: str | None = "promise_followup"  # None: the segment's own script set
    ptp_reminder_script_set: str | None = None
    # Issue 13: a strategy for mediation notices. Every call it makes speaks this script set, and the gate
    # lets it reach only cases allocated to `legal` at step `mediation` (campaign/mediation.py).
    mediation_notice_script_set: str | None = None

    def retry_after(self, disposition: str, trunk_error_streak: int = 0) -> float:
        base = self.retry_seconds.get(disposition, self.default_retry_seconds)
        if disposition == "trunk_error" and trunk_error_streak > 1:
            base = min(self.trunk_error_max_seconds, base * self.trunk_error_backoff ** (trunk_error_streak - 1))
        return base


@dataclass(frozen=True)
class StrategyBook:
    source: Path
    strategies: dict[str, Strategy]
    default: str

    def get(self, name: str | None) -> Strategy:
        key = name or self.default
        if key not in self.strategies:
            known = ", ".join(sorted(self.strategies))
            raise KeyError(f"unknown strategy {key!r} (known: {known})")
        return self.strategies[key]


@dataclass(frozen=True)
class CampaignSettings:
    strategies_file: Path = DEFAULT_STRATEGIES_TOML
    timezone: str = "Asia/Shanghai"  # used when a borrower's own zone is unknown (with the strict window)
    tick_seconds: float = 1.0  # how often the scheduler looks for due borrowers
    max_concurrent_calls: int = 10  # per campaign, on top of the trunk limits
    calls_per_second: float = 2.0  # per campaign
    default_trunk: str | None = None


@dataclass(frozen=True)
class PromiseSettings:
    """`[promises]`: how long after its date a promise may still be kept, and how long a paid claim waits."""

    grace_days: int = 1  # paid >= promised by the end of (date + grace_days) local -> kept
    verify_days: int = 3  # an already-paid claim with no matching payment after this resumes calls
    reconcile_seconds: float = 3600.0  # reconciliation runs this often (and after every payment import)


@dataclass(frozen=True)
class HttpSettings:
    bind_address: str = "127.0.0.1"
    port: int = 8080  # 0 = pick a free port
    tokens: tuple[str, ...] = ()  # bearer tokens accepted by the API; empty = API refuses everything
    max_body_bytes: int = 20 * 1024 * 1024
    auth_failures_per_minute: int = 10  # wrong tokens from one address before it gets 429 + Retry-After
    metrics_require_token: bool = False  # true: /metrics needs a bearer token like /api


@dataclass(frozen=True)
class StoreSettings:
    """`path`: the embedded SQLite file (one machine); `url`: a PostgreSQL server shared by several nodes."""

    path: Path = Path("var/campaigns.sqlite3")
    retention_days: int = LEGAL_MIN_RETENTION_DAYS
    url: str | None = None
    node_id: str | None = None  # None: the host name (stable across restarts)
    node_timeout: float = 30.0  # a node silent this long has its pending attempts closed as lost by another


def postgres_url_problem(url: str) -> str | None:
    """Why `url` is no PostgreSQL address libpq can use (postgresql://USER@HOST[:PORT]/DATABASE), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        return f"a postgresql://USER@HOST/DATABASE URL, not scheme {parts.scheme or '(none)'!r}"
    if not parts.path.strip("/"):
        return "a URL that names the database (postgresql://USER@HOST/DATABASE)"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "a URL whose port is a number from 1 to 65535"
    return None


def parse_campaign(t: Table) -> CampaignSettings:
    t.reject_unknown(
        ["strategies_file", "timezone", "tick_seconds", "max_concurrent_calls", "calls_per_second",
         "default_trunk"]
    )
    d = CampaignSettings()
    zone = t.string("timezone", d.timezone)
    _zone(t, "timezone", zone)
    return CampaignSettings(
        strategies_file=Path(t.string("strategies_file", str(d.strategies_file))),
        timezone=zone,
        tick_seconds=t.number("tick_seconds", d.tick_seconds, min=0.05, max=60),
        max_concurrent_calls=t.integer("max_concurrent_calls", d.max_concurrent_calls, min=1, max=1000),
        calls_per_second=t.number("calls_per_second", d.calls_per_second, min=0.01, max=200),
        default_trunk=t.string("default_trunk", None),
    )


def parse_promises(t: Table) -> PromiseSettings:
    t.reject_unknown(["grace_days", "verify_days", "reconcile_seconds"])
    d = PromiseSettings()
    return PromiseSettings(
        grace_days=t.integer("grace_days", d.grace_days, min=0, max=30),
        verify_days=t.integer("verify_days", d.verify_days, min=1, max=60),
        reconcile_seconds=t.number("reconcile_seconds", d.reconcile_seconds, min=1, max=86400),
    )


_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def parse_http(t: Table) -> HttpSettings:
    t.reject_unknown(["bind_address", "port", "tokens", "max_body_bytes", "auth_failures_per_minute",
                      "metrics_require_token"])
    d = HttpSettings()
    tokens = t.strings("tokens", d.tokens)
    for token in tokens:
        if token.startswith("sha256:"):
            if not _SHA256_HEX.fullmatch(token[len("sha256:"):]):
                raise t.error("tokens", "'sha256:' followed by 64 hex digits (the token's SHA-256)", "a malformed hash")
        elif len(token) < 16:
            raise t.error("tokens", "tokens of at least 16 characters", "a shorter token")
    return HttpSettings(
        bind_address=t.string("bind_address", d.bind_address),
        port=t.integer("port", d.port, min=0, max=65535),
        tokens=tokens,
        max_body_bytes=t.integer("max_body_bytes", d.max_body_bytes, min=1024, max=1024**3),
        auth_failures_per_minute=t.integer("auth_failures_per_minute", d.auth_failures_per_minute, min=1,
                                           max=10_000),
        metrics_require_token=t.boolean("metrics_require_token", d.metrics_require_token),
    )


def parse_store(t: Table) -> StoreSettings:
    t.reject_unknown(["path", "url", "retention_days", "node_id", "node_timeout"])
    d = StoreSettings()
    url = t.string("url", None)
    if url is not None:
        if "path" in t:
            raise t.error("url", "either path (SQLite) or url (PostgreSQL), not both", "both set")
        problem = postgres_url_problem(url)
        if problem is not None:
            raise t.error("url", problem, "a malformed URL")  # the URL itself may hold a password: not echoed
    node_id = t.string("node_id", None)
    if node_id is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", node_id):
        raise t.error("node_id", "1-64 letters, digits, '.', '_' or '-'", node_id)
    return StoreSettings(
        path=Path(t.string("path", str(d.path))),
        retention_days=t.integer("retention_days", d.retention_days, min=LEGAL_MIN_RETENTION_DAYS),
        url=url,
        node_id=node_id,
        node_timeout=t.number("node_timeout", d.node_timeout, min=2, max=3600),
    )


def _zone(t: Table, key: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise t.error(key, "an IANA time zone such as 'Asia/Shanghai'", name) from None


def _clock_time(t: Table, key: str, default: time) -> time:
    text = t.string(key, default.strftime("%H:%M"))
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise t.error(key, "a time of day 'HH:MM'", text) from None


_STRATEGY_KEYS = [
    "window_start", "window_end", "max_unanswered_per_number_per_day", "max_attempts_per_borrower_per_day",
    "max_attempts_per_borrower_per_week", "max_attempts_total", "retry_minutes", "default_retry_minutes",
    "trunk_error_backoff", "trunk_error_max_minutes", "ptp_check_days_after", "priority",
    "ptp_reminder_days_before", "broken_promise_call", "partly_kept_call", "broken_promise_script_set",
    "ptp_reminder_script_set", "mediation_notice_script_set",
]


def parse_strategy(name: str, t: Table) -> Strategy:
    """One strategy; anything that would loosen C1-C3 beyond its legal bound is refused with the rule."""
    t.reject_unknown(_STRATEGY_KEYS)
    d = Strategy(name=name)
    start = _clock_time(t, "window_start", d.window_start)
    end = _clock_time(t, "window_end", d.window_end)
    if start < LEGAL_WINDOW_START:
        raise t.error("window_start", "a time no earlier than 08:00 (COMPLIANCE C1)", start.strftime("%H:%M"))
    if end > LEGAL_WINDOW_END:
        raise t.error("window_end", "a time no later than 22:00 (COMPLIANCE C1)", end.strftime("%H:%M"))
    if end <= start:
        raise t.error("window_end", "a time after window_start", end.strftime("%H:%M"))
    per_number = t.integer("max_unanswered_per_number_per_day", d.max_unanswered_per_number_per_day, min=1)
    if per_number > LEGAL_MAX_UNANSWERED_PER_NUMBER_PER_DAY:
        raise t.error(
            "max_unanswered_per_number_per_day",
            f"at most {LEGAL_MAX_UNANSWERED_PER_NUMBER_PER_DAY} (COMPLIANCE C2)", per_number,
        )
    per_day = t.integer("max_attempts_per_borrower_per_day", d.max_attempts_per_borrower_per_day, min=1, max=50)
    per_week = t.integer("max_attempts_per_borrower_per_week", d.max_attempts_per_borrower_per_week, min=1, max=350)
    if per_week < per_day:
        raise t.error("max_attempts_per_borrower_per_week", f"at least the daily cap {per_day} (COMPLIANCE C3)",
                      per_week)
    retry_table = t.table("retry_minutes")
    retry: dict[str, float] = {}
    for key in list(retry_table.data):
        if key not in DIAL_DISPOSITIONS + OUTCOME_DISPOSITIONS:
            raise retry_table.error(key, "a dial disposition or an outcome disposition", key)
        retry[key] = retry_table.number(key, min=0.05, max=60 * 24 * 30) * 60.0
    p = t.table("priority")
    p.reject_unknown(["base", "per_overdue_day", "per_thousand_due"])
    dp = PriorityWeights()
    return Strategy(
        name=name,
        window_start=start,
        window_end=end,
        max_unanswered_per_number_per_day=per_number,
        max_attempts_per_borrower_per_day=per_day,
        max_attempts_per_borrower_per_week=per_week,
        max_attempts_total=t.integer("max_attempts_total", d.max_attempts_total, min=1, max=1000),
        retry_seconds=retry,
        default_retry_seconds=t.number("default_retry_minutes", d.default_retry_seconds / 60, min=0.05) * 60.0,
        trunk_error_backoff=t.number("trunk_error_backoff", d.trunk_error_backoff, min=1.0, max=10.0),
        trunk_error_max_seconds=t.number("trunk_error_max_minutes", d.trunk_error_max_seconds / 60, min=0.05)
        * 60.0,
        ptp_check_days_after=t.integer("ptp_check_days_after", d.ptp_check_days_after, min=0, max=30),
        priority=PriorityWeights(
            base=p.number("base", dp.base),
            per_overdue_day=p.number("per_overdue_day", dp.per_overdue_day),
            per_thousand_due=p.number("per_thousand_due", dp.per_thousand_due),
        ),
        ptp_reminder_days_before=t.integer("ptp_reminder_days_before", d.ptp_reminder_days_before, min=0, max=14),
        broken_promise_call=t.boolean("broken_promise_call", d.broken_promise_call),
        partly_kept_call=t.boolean("partly_kept_call", d.partly_kept_call),
        broken_promise_script_set=t.string("broken_promise_script_set", d.broken_promise_script_set) or None,
        ptp_reminder_script_set=t.string("ptp_reminder_script_set", d.ptp_reminder_script_set) or None,
        mediation_notice_script_set=t.string("mediation_notice_script_set", d.mediation_notice_script_set) or None,
    )


def unknown_script_sets(book: StrategyBook, known: Iterable[str]) -> list[str]:
    """Promise follow-up script sets a strategy names that the script library does not have."""
    names = set(known)
    problems = []
    for strategy in book.strategies.values():
        for key in ("broken_promise_script_set", "ptp_reminder_script_set", "mediation_notice_script_set"):
            value = getattr(strategy, key)
            if value is not None and value not in names:
                problems.append(f"{book.source}: strategies.{strategy.name}.{key}: unknown script set {value!r}")
    return problems


def load_strategies(path: Path | str = DEFAULT_STRATEGIES_TOML) -> StrategyBook:
    """Parse `strategies.toml`: `default = NAME` plus one `[strategies.NAME]` table per strategy."""
    root = load_toml(path)
    root.reject_unknown(["default", "strategies"])
    tables = root.table("strategies", required=True)
    strategies = {name: parse_strategy(name, tables.table(name)) for name in list(tables.data)}
    if not strategies:
        raise tables.error("", "at least one [strategies.NAME] table")
    default = root.string("default", next(iter(strategies)))
    if default not in strategies:
        raise root.error("default", "the name of a strategy defined in this file", default)
    return StrategyBook(source=root.file, strategies=strategies, default=default)

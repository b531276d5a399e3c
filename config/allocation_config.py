"""Case-allocation rules from `config/allocation.toml`: which channel (bot, agent, legal, hold) a case belongs in.

Why data: operations staff tune thresholds (days past due, balance, broken promises) far more often
than programmers touch code. The rules are ordered and the first match wins, so the file reads like
the policy it is. What no file may do is send a case somewhere the compliance rules forbid: a rule
that could give `bot` or `legal` to a case with an open complaint or dispute, or `bot` to a case that
opted out on every number (C7), is refused at load with the rule's key, unless an earlier rule
already takes every such case to a channel that does not call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.toml_reader import Table, load_toml

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_ALLOCATION_TOML = CONFIG_DIR / "allocation.toml"

CHANNELS = ("bot", "agent", "legal", "hold")
CONTACT_CHANNELS = ("bot", "legal")  # channels that contact the borrower on our behalf without a human review
# Legal-track steps (issue 13) and the mediation kinds; the Chinese names are in docs/allocation.md.
LEGAL_STEPS = ("mediation", "litigation", "filing", "enforcement", "closed")
MEDIATION_KINDS = ("people", "litigation", "arbitration", "delegated", "entrusted", "self")

# Condition keys: `*_min`/`*_max` bound a number (inclusive), booleans must equal the case's flag.
NUMBER_CONDITIONS = (
    "days_past_due_min", "days_past_due_max", "balance_min", "balance_max", "broken_promises_min",
    "broken_promises_max", "refusals_confirmed_min", "refusals_confirmed_max", "reached_within_days",
    "not_reached_within_days",
)
FLAG_CONDITIONS = ("open_complaint", "open_dispute", "hardship", "opted_out_all", "wrong_number")
CONDITION_KEYS = (*NUMBER_CONDITIONS, *FLAG_CONDITIONS, "segment")
RULE_KEYS = ("name", "channel", "queue", "step", "mediation_kind", "strategy", "when", "when_any")

# Which flags forbid which channels, and which channels may take every case with that flag.
_PROTECTED: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # flag: (forbidden channels, channels that may catch it, why)
    "open_complaint": (CONTACT_CHANNELS, ("agent", "hold"), "an open complaint awaits human review (C9)"),
    "open_dispute": (CONTACT_CHANNELS, ("agent", "hold"), "an open dispute awaits human review"),
    "opted_out_all": (("bot",), ("hold",), "the borrower opted out on every known number (C7)"),
}


@dataclass(frozen=True)
class Condition:
    """All given bounds must hold (an AND); an absent key does not constrain."""

    values: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.values


@dataclass(frozen=True)
class AllocationRule:
    name: str
    channel: str
    queue: str | None = None  # agent: the human queue
    step: str | None = None  # legal: the track step
    mediation_kind: str | None = None  # legal mediation: which kind (default from the file)
    strategy: str | None = None  # bot: a fixed strategy instead of the segment's
    when: Condition = field(default_factory=Condition)
    when_any: tuple[Condition, ...] = ()  # at least one must hold (when given)

    @property
    def unconditional(self) -> bool:
        return self.when.empty and not self.when_any

    def requires(self, flag: str, value: bool) -> bool:
        """True when every case this rule matches has `flag == value`."""
        if self.when.values.get(flag) is value:
            return True
        return bool(self.when_any) and all(c.values.get(flag) is value for c in self.when_any)

    def catches(self, flag: str) -> bool:
        """True when every case with the flag set that reaches this rule is matched by it."""
        if not self.when.empty and set(self.when.values) != {flag}:
            return False
        if self.when.values and self.when.values.get(flag) is not True:
            return False
        return not self.when_any or any(c.values == {flag: True} or c.empty for c in self.when_any)


@dataclass(frozen=True)
class AllocationBook:
    source: Path
    rules: tuple[AllocationRule, ...]
    mediation_kind: str = "self"

    def __post_init__(self) -> None:
        problems = loosening_problems(self.rules)
        if problems:
            index, key, why = problems[0]
            raise ConfigError(self.source, f"rules[{index}].{key}", why)


def loosening_problems(rules: tuple[AllocationRule, ...]) -> list[tuple[int, str, str]]:
    """Rules that could allocate a protected case to a channel that contacts it: (index, key, expectation)."""
    problems: list[tuple[int, str, str]] = []
    caught: set[str] = set()
    for index, rule in enumerate(rules):
        for flag, (forbidden, catchers, why) in _PROTECTED.items():
            if flag in caught:
                continue
            if rule.channel in forbidden and not rule.requires(flag, False):
                problems.append((index, "channel", (
                    f"a channel other than {rule.channel!r} for cases with {flag} = true: {why}; "
                    f"put a rule sending {flag} = true to {' or '.join(catchers)} before it, "
                    f"or add {flag} = false to its conditions")))
            elif rule.channel in catchers and rule.catches(flag):
                caught.add(flag)
    if rules and not rules[-1].unconditional:
        problems.append((len(rules) - 1, "when", "no conditions on the last rule, so every case gets a channel"))
    return problems


def _condition(t: Table, segments: frozenset[str] | None) -> Condition:
    t.reject_unknown(CONDITION_KEYS)
    values: dict[str, Any] = {}
    for key in list(t.data):
        if key in FLAG_CONDITIONS:
            values[key] = t.boolean(key)
        elif key == "segment":
            names = t.strings(key)
            if not names:
                raise t.error(key, "a non-empty list of segment names")
            for name in names:
                if segments is not None and name not in segments:
                    raise t.error(key, "names of segments in config/segments.toml", name)
            values[key] = names
        elif key.startswith("balance"):
            values[key] = t.number(key, min=0)
        else:
            values[key] = t.integer(key, min=0, max=36500)
    for lo, hi in (("days_past_due_min", "days_past_due_max"), ("balance_min", "balance_max"),
                   ("broken_promises_min", "broken_promises_max"),
                   ("refusals_confirmed_min", "refusals_confirmed_max")):
        if lo in values and hi in values and values[hi] < values[lo]:
            raise t.error(hi, f"a bound no lower than {lo} = {values[lo]}", values[hi])
    return Condition(values)


def parse_rule(t: Table, default_kind: str, *, segments: frozenset[str] | None,
               strategies: frozenset[str] | None) -> AllocationRule:
    t.reject_unknown(RULE_KEYS)
    name = t.string("name")
    if not name.strip():
        raise t.error("name", "a non-empty rule name", name)
    channel = t.string("channel", choices=CHANNELS)
    queue = t.string("queue", None)
    step = t.string("step", None, choices=LEGAL_STEPS)
    kind = t.string("mediation_kind", None, choices=MEDIATION_KINDS)
    strategy = t.string("strategy", None)
    if channel == "agent" and not queue:
        raise t.error("queue", "the name of a human agent queue for channel 'agent' (the key is required)")
    if channel != "agent" and queue is not None:
        raise t.error("queue", "no queue: only channel 'agent' has one", queue)
    if channel == "legal" and step is None:
        raise t.error("step", "a legal track step for channel 'legal': " + ", ".join(LEGAL_STEPS))
    if channel != "legal" and (step is not None or kind is not None):
        raise t.error("step" if step is not None else "mediation_kind", "no legal step: only channel 'legal' has one")
    if kind is not None and step != "mediation":
        raise t.error("mediation_kind", "step = 'mediation' when a mediation kind is given", step)
    if strategy is not None:
        if channel != "bot":
            raise t.error("strategy", "no strategy: only channel 'bot' dials", strategy)
        if strategies is not None and strategy not in strategies:
            raise t.error("strategy", "a strategy defined in config/strategies.toml", strategy)
    when = _condition(t.table("when"), segments)
    any_of = tuple(_condition(c, segments) for c in t.tables("when_any"))
    if "when_any" in t and not any_of:
        raise t.error("when_any", "at least one condition table (or leave the key out)")
    return AllocationRule(
        name=name, channel=channel, queue=queue, step=step,
        mediation_kind=(kind or default_kind) if step == "mediation" else None, strategy=strategy,
        when=when, when_any=any_of,
    )


def load_allocation(
    path: Path | str = DEFAULT_ALLOCATION_TOML, *, segments: frozenset[str] | None = None,
    strategies: frozenset[str] | None = None,
) -> AllocationBook:
    """Parse and check `allocation.toml`; pass known segment/strategy names to check references too."""
    root = load_toml(path)
    root.reject_unknown(["mediation_kind", "rules"])
    kind = root.string("mediation_kind", "self", choices=MEDIATION_KINDS)
    tables = root.tables("rules")
    if not tables:
        raise root.error("rules", "at least one [[rules]] table")
    rules: list[AllocationRule] = []
    for t in tables:
        rule = parse_rule(t, kind, segments=segments, strategies=strategies)
        if any(r.name == rule.name for r in rules):
            raise t.error("name", "a rule name used once", rule.name)
        rules.append(rule)
    return AllocationBook(source=root.file, rules=tuple(rules), mediation_kind=kind)

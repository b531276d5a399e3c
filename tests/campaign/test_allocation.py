"""Allocation rules (issue 13): the shipped defaults, their precedence, boundaries and refused loosening rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from campaign.allocation import GUARD_OPT_OUT, GUARD_REVIEW, Allocation, CaseError, allocate, parse_case
from config.allocation_config import AllocationBook, AllocationRule, Condition, load_allocation
from config.errors import ConfigError
from dialogue.segments import load_segments

TODAY = dt.date(2026, 12, 2)
BOOK = load_allocation()
SEGMENTS = load_segments()


def case(days: int = 10, amount: float = 3000.0, **history: object) -> dict[str, object]:
    return {"id": "B1", "amount_due": amount, "risk_score": 500, "value_tier": "normal",
            "due_date": (TODAY - dt.timedelta(days=days)).isoformat(), "history": history}


def alloc(data: dict[str, object]) -> Allocation:
    return allocate(parse_case(data), BOOK, TODAY, SEGMENTS)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allocation.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_open_complaint_or_dispute_goes_to_the_complaints_queue() -> None:
    """Default 1: an open complaint or an open dispute -> agent queue 'complaints'."""
    for flag in ("open_complaint", "open_dispute"):
        a = alloc(case(days=120, amount=90000, **{flag: True, "broken_promises": 3}))
        assert (a.channel, a.queue, a.step, a.rule) == ("agent", "complaints", None, "review_open")


def test_opted_out_everywhere_is_held_with_reason_c7() -> None:
    """Default 2: opted out on every known number -> hold, rule C7, even when legal would match."""
    a = alloc(case(days=120, opted_out_all=True, broken_promises=2))
    assert (a.channel, a.queue, a.step, a.rule) == ("hold", None, None, "C7")


def test_long_overdue_with_broken_promises_or_confirmed_refusals_goes_to_mediation() -> None:
    """Default 3: >= 90 days past due and (2 broken promises or 2 confirmed refusals) -> legal mediation (self)."""
    for history in ({"broken_promises": 2}, {"refusals_confirmed": 2}):
        a = alloc(case(days=90, **history))
        assert (a.channel, a.step, a.mediation_kind, a.rule) == ("legal", "mediation", "self", "legal_mediation")
    assert alloc(case(days=90, broken_promises=1, refusals_confirmed=1)).channel == "bot"


def test_days_past_due_boundary_is_inclusive_at_90() -> None:
    """89 days past due stays with the bot, 90 goes to legal; overdue_days is used only without a due date."""
    assert alloc(case(days=89, broken_promises=2)).channel == "bot"
    assert alloc(case(days=90, broken_promises=2)).channel == "legal"
    no_date = {"id": "B2", "amount_due": 100, "risk_score": 500, "overdue_days": 90,
               "history": {"broken_promises": 2}}
    assert alloc(no_date).channel == "legal"
    with_date = {**no_date, "due_date": (TODAY - dt.timedelta(days=30)).isoformat()}
    assert alloc(with_date).channel == "bot"


def test_hardship_or_large_balance_goes_to_senior_agents() -> None:
    """Default 4: hardship claimed, or balance >= 50,000 -> agent queue 'senior'; 49,999.99 stays with the bot."""
    assert (alloc(case(hardship=True)).queue, alloc(case(hardship=True)).rule) == ("senior", "senior_agent")
    assert alloc(case(amount=50000)).queue == "senior"
    assert alloc(case(amount=49999.99)).channel == "bot"


def test_everything_else_goes_to_the_bot_with_its_segments_strategy() -> None:
    """Default 5: the bot, with the strategy of the borrower's segment from segments.toml."""
    a = alloc(case(days=10))
    seg = next(s for s in SEGMENTS if s.matches("M1", "normal", 500))
    assert (a.channel, a.rule, a.strategy, a.segment) == ("bot", "bot_by_segment", seg.strategy, seg.name)


def test_precedence_complaint_over_opt_out_over_legal_over_senior() -> None:
    """First match wins in file order: complaint beats opt-out, opt-out beats legal, legal beats senior."""
    assert alloc(case(days=100, open_complaint=True, opted_out_all=True)).rule == "review_open"
    assert alloc(case(days=100, opted_out_all=True, broken_promises=2, hardship=True)).rule == "C7"
    assert alloc(case(days=100, amount=80000, broken_promises=2, hardship=True)).rule == "legal_mediation"
    assert alloc(case(days=10, amount=80000, broken_promises=2, hardship=True)).rule == "senior_agent"


RULES_TAIL = '\n[[rules]]\nname = "rest"\nchannel = "bot"\n'


def test_legal_for_an_open_dispute_is_refused_at_load(tmp_path: Path) -> None:
    """A legal rule before any rule that takes open disputes away is refused, naming file, key and the reason."""
    path = write(tmp_path, '[[rules]]\nname = "sue"\nchannel = "legal"\nstep = "mediation"\n'
                           'when = { days_past_due_min = 90 }\n' + RULES_TAIL)
    with pytest.raises(ConfigError) as err:
        load_allocation(path)
    assert str(path) in str(err.value) and "rules[0].channel" in str(err.value)
    assert "open_complaint" in str(err.value)


def test_bot_for_a_case_opted_out_everywhere_is_refused_at_load(tmp_path: Path) -> None:
    """With complaints caught but no C7 hold first, the bot catch-all is refused (C7)."""
    path = write(tmp_path, '[[rules]]\nname = "r"\nchannel = "agent"\nqueue = "q"\n'
                           'when_any = [{ open_complaint = true }, { open_dispute = true }]\n' + RULES_TAIL)
    with pytest.raises(ConfigError, match=r"rules\[1\]\.channel.*opted_out_all.*C7"):
        load_allocation(path)


def test_a_rule_excluding_the_protected_flags_is_accepted(tmp_path: Path) -> None:
    """A bot rule that itself requires no complaint, no dispute and no opt-out is not a loosening."""
    path = write(tmp_path, '[[rules]]\nname = "clean"\nchannel = "bot"\n'
                           'when = { open_complaint = false, open_dispute = false, opted_out_all = false }\n'
                           '[[rules]]\nname = "rest"\nchannel = "hold"\n')
    assert [r.name for r in load_allocation(path).rules] == ["clean", "rest"]


def test_catch_all_last_rule_and_bad_keys_are_refused(tmp_path: Path) -> None:
    """The last rule must have no conditions; an unknown key, bad channel or missing queue name the key."""
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when"):
        load_allocation(write(tmp_path, '[[rules]]\nname = "h"\nchannel = "hold"\nwhen = { hardship = true }\n'))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when\.days_overdue"):
        load_allocation(write(tmp_path, '[[rules]]\nname = "h"\nchannel = "hold"\nwhen = { days_overdue = 3 }\n'))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.channel.*'bot'"):
        load_allocation(write(tmp_path, '[[rules]]\nname = "h"\nchannel = "court"\n'))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.queue"):
        load_allocation(write(tmp_path, '[[rules]]\nname = "h"\nchannel = "agent"\n'))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when\.segment"):
        load_allocation(write(tmp_path, '[[rules]]\nname = "h"\nchannel = "hold"\nwhen = { segment = ["M9"] }\n'
                              + RULES_TAIL.replace("bot", "hold")),
                        segments=frozenset(s.name for s in SEGMENTS))


def test_mediation_kind_is_configurable() -> None:
    """The file's mediation_kind (or a rule's own) is the kind of the legal mediation step."""
    rule = AllocationRule(name="m", channel="legal", step="mediation", mediation_kind="people")
    book = AllocationBook(source=Path("x.toml"), rules=(
        AllocationRule(name="r", channel="agent", queue="complaints",
                       when_any=(Condition({"open_complaint": True}), Condition({"open_dispute": True}))),
        AllocationRule(name="c7", channel="hold", when=Condition({"opted_out_all": True})), rule))
    assert allocate(parse_case(case()), book, TODAY).mediation_kind == "people"


def test_hand_built_loosening_book_is_refused_and_guarded() -> None:
    """A book built in code is checked like a file; the engine's guard still keeps protected cases off contact."""
    with pytest.raises(ConfigError, match="open_complaint"):
        AllocationBook(source=Path("x.toml"), rules=(AllocationRule(name="all", channel="bot"),))
    loose = object.__new__(AllocationBook)  # bypass the check, as a buggy caller might
    object.__setattr__(loose, "source", Path("x.toml"))
    object.__setattr__(loose, "rules", (AllocationRule(name="all", channel="bot"),))
    object.__setattr__(loose, "mediation_kind", "self")
    c = parse_case(case())
    assert allocate(c, loose, TODAY).channel == "bot"
    assert allocate(parse_case(case(open_dispute=True)), loose, TODAY).rule == GUARD_REVIEW
    assert allocate(parse_case(case(opted_out_all=True)), loose, TODAY).rule == GUARD_OPT_OUT


def test_bad_case_fields_are_named() -> None:
    """parse_case names the bad field, dotted inside history."""
    for bad, field in (({"amount_due": "x"}, "amount_due"), ({"due_date": "2026-13-01"}, "due_date"),
                       ({"history": {"broken_promises": -1}}, "history.broken_promises"),
                       ({"history": {"hardship": "yes"}}, "history.hardship"), ({"colour": 1}, "colour")):
        with pytest.raises(CaseError) as err:
            parse_case({**case(), **bad})
        assert err.value.field == field

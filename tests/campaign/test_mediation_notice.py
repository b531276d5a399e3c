"""Mediation notice campaigns (issue 13): only legal/mediation cases are dialled, with the notice set, once answered."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from campaign_fakes import borrower_row, run_for
from campaign_stack import Stack, StackFactory

from campaign.allocation_store import RULE_ALLOCATED_AWAY, AllocationRun
from campaign.mediation import RULE_NOT_IN_MEDIATION, STOP_NOTIFIED, notice_refusal
from config.allocation_config import load_allocation
from config.campaign_config import load_strategies, unknown_script_sets
from config.errors import ConfigError
from dialogue.borrower import Borrower
from dialogue.intents import IntentClassifier
from dialogue.manager import DialogueManager
from dialogue.scripts import load_script_library
from dialogue.segments import load_segments

MEDIATOR = {"mediator": "示例调解中心", "mediator_phone": "400-820-1234"}


def _cases(s: Stack, campaign_id: str) -> None:
    """B001 goes to legal/mediation (121 days, 2 broken promises), B002 stays with the bot, B003 to a senior agent."""
    s.service.import_records(campaign_id, [
        borrower_row(1, due_date="2026-08-01", overdue_days=121, **MEDIATOR), borrower_row(2),
        borrower_row(3, amount_due=60000.0)])
    with s.store.transaction() as db:
        for i in range(2):
            db.execute("INSERT INTO promises (id, borrower_id, campaign_id, call_id, promised_date, amount, confirmed,"
                       " state, created_at, updated_at) VALUES (?,?,?,?,?,?,1,'broken',0,0)",
                       (f"ptp-{i}", "B001", campaign_id, None, "2026-10-01", 100.0))
    report = AllocationRun(s.store, load_allocation(), load_segments(), s.clock, "Asia/Shanghai").run("test")
    assert report["counts"] == {"bot": 1, "agent": 1, "legal": 1, "hold": 0}


def _real_notice(borrower: Borrower) -> dict[str, Any]:
    """The borrower the dialer rebuilt from the store hears the real notice (real classifier) and says yes."""
    manager = DialogueManager(load_script_library(), IntentClassifier.load(), dt.date(2026, 11, 30),
                              script_set="mediation_notice")
    manager.start(borrower)
    manager.on_utterance("是我")
    manager.on_utterance("可以")
    assert manager.outcome is not None and manager.path[-1] == "notice_mediation/consent_yes", manager.path
    return manager.outcome.to_dict()


def test_notice_campaign_dials_only_the_mediation_case_with_the_notice_set(stack_factory: StackFactory) -> None:
    """A mediation_notice campaign calls B001 (legal/mediation) with the mediation_notice set; the bot and agent
    cases are refused NOT_IN_MEDIATION; the imported mediator reaches the call; once consent is answered B001 is
    stopped and never called again."""
    s = stack_factory()
    m = s.service.create_campaign("M", strategy="mediation_notice")
    _cases(s, m.id)
    heard: list[Borrower] = []

    def notice(borrower: Borrower) -> dict[str, Any]:
        heard.append(borrower)
        return _real_notice(borrower)

    s.runner.outcome = notice
    s.scheduler.start()
    s.service.start(m.id)
    run_for(s.clock, 300)
    assert s.runner.runs == ["B001"] and s.runner.script_sets == ["mediation_notice"]
    refused = {(r["borrower_id"], r["rule"]) for r in s.store.refusals(m.id)}
    assert refused == {("B002", RULE_NOT_IN_MEDIATION), ("B003", RULE_NOT_IN_MEDIATION)}
    state = s.store.get_borrower(m.id, "B001")
    assert (state.status, state.stop_reason) == ("stopped", STOP_NOTIFIED)
    assert (heard[0].mediator, heard[0].mediator_phone) == (MEDIATOR["mediator"], MEDIATOR["mediator_phone"])
    outcomes = [json.loads(r["data"]) for r in s.store.connection.execute("SELECT data FROM outcomes")]
    assert [o["mediation_consent"] for o in outcomes] == [True]
    run_for(s.clock, 3 * 86400, step=60.0)
    assert s.runner.runs == ["B001"]


def test_collection_campaign_still_refuses_the_mediation_case(stack_factory: StackFactory) -> None:
    """The exception is one-way: a collection campaign never dials the legal case (ALLOCATED_AWAY)."""
    s = stack_factory()
    a = s.service.create_campaign("A")
    _cases(s, a.id)
    s.scheduler.start()
    s.service.start(a.id)
    run_for(s.clock, 300)
    assert "B001" not in s.runner.runs and "B002" in s.runner.runs
    assert ("B001", RULE_ALLOCATED_AWAY) in {(r["borrower_id"], r["rule"]) for r in s.store.refusals(a.id)}


def test_no_clear_answer_leaves_the_case_to_be_called_again(stack_factory: StackFactory) -> None:
    """A notice call that got no answer to the consent question (null) does not stop the borrower."""
    s = stack_factory()
    m = s.service.create_campaign("M", strategy="mediation_notice")
    _cases(s, m.id)
    s.runner.outcome = lambda b: {"disposition": "callback", "mediation_consent": None}
    s.scheduler.start()
    s.service.start(m.id)
    run_for(s.clock, 300)
    assert s.runner.runs == ["B001"] and s.store.get_borrower(m.id, "B001").status == "active"


@pytest.mark.parametrize(("allocated", "step"), [(None, None), (("bot", "bot_by_segment"), None),
                                                 (("legal", "legal_litigation"), "litigation"),
                                                 (("agent", "complaints"), None)])
def test_notice_refused_outside_mediation(allocated: tuple[str, str] | None, step: str | None) -> None:
    """Never allocated, bot, agent, or legal at another step: a mediation notice is refused with a retry time."""
    refusal = notice_refusal(allocated, step, 1000.0)
    assert refusal is not None and refusal.rule == RULE_NOT_IN_MEDIATION and refusal.retry_at is not None
    assert notice_refusal(("legal", "legal_mediation"), "mediation", 1000.0) is None


def test_shipped_notice_strategy_names_a_known_set_and_a_typo_is_reported(tmp_path: Path) -> None:
    """strategies.toml's mediation_notice strategy speaks mediation_notice; an unknown set name is reported."""
    book = load_strategies()
    sets = load_script_library().script_sets
    assert book.get("mediation_notice").mediation_notice_script_set == "mediation_notice"
    assert unknown_script_sets(book, sets) == []
    bad = tmp_path / "strategies.toml"
    bad.write_text('default = "m"\n[strategies.m]\nmediation_notice_script_set = "mediaton"\n', encoding="utf-8")
    problems = unknown_script_sets(load_strategies(bad), sets)
    assert problems == [f"{bad}: strategies.m.mediation_notice_script_set: unknown script set 'mediaton'"]
    bad.write_text('default = "m"\n[strategies.m]\nmediation_notice_script_set = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="mediation_notice_script_set"):
        load_strategies(bad)

"""Campaign lifecycle edges a new user hits first: empty start, import after finish, start while paused."""

from __future__ import annotations

import pytest
from campaign_fakes import borrower_row, run_for
from campaign_stack import StackFactory, both_engines

from campaign.service import CampaignStateError

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL


def test_starting_an_empty_campaign_leaves_it_draft_and_startable(stack_factory: StackFactory) -> None:
    """Start without borrowers is refused and the campaign stays draft; after an import it starts and dials."""
    s = stack_factory()
    s.scheduler.start()
    c = s.service.create_campaign("empty")
    with pytest.raises(CampaignStateError, match="no borrowers"):
        s.service.start(c.id)
    run_for(s.clock, 5)
    assert s.store.get_campaign(c.id).state == "draft"
    s.service.import_records(c.id, [borrower_row(1)])
    assert s.service.start(c.id).state == "running"
    run_for(s.clock, 2)
    assert len(s.placer.dials) == 1


def test_import_into_finished_campaign_is_refused_and_stores_nothing(stack_factory: StackFactory) -> None:
    """A finished campaign refuses an import with the reason; no borrower is written."""
    s = stack_factory()
    c = s.service.create_campaign("done")
    s.service.import_records(c.id, [borrower_row(1)])
    s.service.stop(c.id)
    with pytest.raises(CampaignStateError, match="finished"):
        s.service.import_records(c.id, [borrower_row(2)])
    with pytest.raises(CampaignStateError, match="finished"):
        s.service.import_bytes(c.id, "b.jsonl", b'{"id": "X"}\n')
    assert [b.borrower_id for b in s.store.list_borrowers(c.id)] == ["B001"]


def test_start_of_paused_campaign_suggests_resume(stack_factory: StackFactory) -> None:
    """'cannot start a campaign that is paused' names resume as what to do."""
    s = stack_factory()
    c = s.service.create_campaign("p")
    s.service.import_records(c.id, [borrower_row(1)])
    s.service.start(c.id)
    s.service.pause(c.id)
    with pytest.raises(CampaignStateError, match="paused: use resume"):
        s.service.start(c.id)
    assert s.service.resume(c.id).state == "running"

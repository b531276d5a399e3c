"""A campaign stack (store, strategies, scheduler, service) on a Clock with fake call seams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from campaign_fakes import FakePlacer, FakeRunner, at_local
from twisted.internet.task import Clock

from campaign.dialer import Dialer
from campaign.ledger import PromiseLedger
from campaign.scheduler import Scheduler
from campaign.service import CampaignService
from campaign.store import SqliteStore, SqlStore
from config.campaign_config import CampaignSettings, PromiseSettings, StrategyBook, load_strategies
from config.server_config import TrunkSettings
from dialogue.segments import load_segments
from telemetry.metrics import Registry


@dataclass
class Stack:
    clock: Clock
    store: SqlStore
    placer: FakePlacer
    runner: FakeRunner
    dialer: Dialer
    scheduler: Scheduler
    service: CampaignService
    metrics: Registry
    ledger: PromiseLedger


def build_stack(
    db: Path | SqlStore, *, start: float | None = None, strategies: StrategyBook | None = None,
    trunks: tuple[TrunkSettings, ...] = (), settings: CampaignSettings | None = None, slots: int | None = None,
) -> Stack:
    clock = Clock()
    clock.advance(start if start is not None else at_local(2026, 11, 30, 10, 0))
    store = db if isinstance(db, SqlStore) else SqliteStore(db)
    book = strategies or load_strategies()
    segments = None if strategies is not None else load_segments(strategies=frozenset(book.strategies))
    metrics = Registry()
    placer = FakePlacer(clock, slots=slots)
    runner = FakeRunner(clock)
    dialer = Dialer(store, placer, runner, clock, segments=segments, metrics=metrics)
    cfg = settings or CampaignSettings(tick_seconds=1.0, max_concurrent_calls=5, calls_per_second=5.0)
    scheduler = Scheduler(store, book, dialer, clock, cfg, trunks=trunks, metrics=metrics,
                          capacity=placer if slots is not None else None)
    ledger = PromiseLedger(store, book, PromiseSettings(), clock, cfg.timezone)
    service = CampaignService(store, scheduler, book, cfg, clock, segments=segments, ledger=ledger)
    return Stack(clock, store, placer, runner, dialer, scheduler, service, metrics, ledger)


StackFactory = Callable[..., Stack]


@pytest.fixture(params=["sqlite", "postgres"], name="store_engine")
def both_engines(request: pytest.FixtureRequest) -> str:
    """Import into a test module to run its stacks on SQLite and on PostgreSQL."""
    return str(request.param)

"""Fixture: `api_stack` serves a fresh campaign stack over HTTP on a free 127.0.0.1 port."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import HttpClient, reactor
from api_stack import TOKEN, ApiStack  # before campaign_fakes: puts tests/campaign on sys.path
from campaign_fakes import FakePlacer, FakeRunner, at_local
from twisted.internet.task import Clock

from api.app import build_app
from campaign.store import SqliteStore
from config.campaign_config import HttpSettings
from config.server_config import load_server_config
from telemetry.metrics import Registry


@pytest.fixture
def api_stack(tmp_path: Path) -> Iterator[ApiStack]:
    config = load_server_config()
    config = dataclasses.replace(
        config, http=HttpSettings(port=0, tokens=(TOKEN,), max_body_bytes=64 * 1024),
        calls=dataclasses.replace(config.calls, recording_dir=tmp_path / "rec"),
    )
    clock = Clock()
    clock.advance(at_local(2026, 11, 30, 10, 0))
    placer = FakePlacer(clock)
    runner = FakeRunner(clock)
    app = build_app(config, clock, runner=runner, placer=placer, metrics=Registry(),
                    store=SqliteStore(tmp_path / "api.sqlite3"), http_reactor=reactor, capacity=placer)
    app.scheduler.start()
    http = HttpClient(app.site)
    yield ApiStack(app, clock, placer, runner, http)
    http.close()
    app.site.resource.close()
    app.scheduler.stop()
    app.store.close()

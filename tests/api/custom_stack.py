"""An API stack like the `api_stack` fixture but with the caller's `[http]` settings.

The auth and fuzzing tests need their own token lists, limits and `/metrics` option; this builds
the same graph (real site on a free 127.0.0.1 port, campaign fakes on a Clock) around them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from api_harness import HttpClient, reactor
from api_stack import ApiStack  # before campaign_fakes: puts tests/campaign on sys.path
from campaign_fakes import FakePlacer, FakeRunner, at_local
from twisted.internet.task import Clock

from api.app import build_app
from campaign.store import SqliteStore
from config.campaign_config import HttpSettings
from config.server_config import load_server_config
from telemetry.metrics import Registry


@contextlib.contextmanager
def custom_stack(tmp_path: Path, http: HttpSettings) -> Iterator[ApiStack]:
    config = load_server_config()
    config = dataclasses.replace(
        config, http=http, calls=dataclasses.replace(config.calls, recording_dir=tmp_path / "rec"),
    )
    clock = Clock()
    clock.advance(at_local(2026, 11, 30, 10, 0))
    placer = FakePlacer(clock)
    runner = FakeRunner(clock)
    app = build_app(config, clock, runner=runner, placer=placer, metrics=Registry(),
                    store=SqliteStore(tmp_path / "api.sqlite3"), http_reactor=reactor, capacity=placer)
    app.scheduler.start()
    http_client = HttpClient(app.site)
    try:
        yield ApiStack(app, clock, placer, runner, http_client)
    finally:
        http_client.close()
        app.site.resource.close()
        app.scheduler.stop()
        app.store.close()

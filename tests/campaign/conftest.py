"""Fixtures: `stack_factory` builds campaign stacks on fresh stores (SQLite files, or PostgreSQL databases
where a module asks for both engines with `store_engine`) and closes them afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from campaign_stack import Stack, StackFactory, build_stack

from campaign.store import PostgresStore


@pytest.fixture
def store_engine() -> str:
    """The engine under the stacks of a test; a module overrides it with params=ENGINES to run on both."""
    return "sqlite"


@pytest.fixture
def stack_factory(tmp_path: Path, store_engine: str, request: pytest.FixtureRequest) -> Iterator[StackFactory]:
    made: list[Stack] = []

    def make(**kwargs: object) -> Stack:
        if store_engine == "postgres":
            cluster = request.getfixturevalue("pg_cluster")
            s = build_stack(PostgresStore(cluster.new_database()), **kwargs)
        else:
            s = build_stack(tmp_path / f"c{len(made)}.sqlite3", **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.scheduler.stop()
        s.store.close()

"""Fixture: `stack_factory` builds campaign stacks on fresh SQLite files and closes them afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from campaign_stack import Stack, StackFactory, build_stack


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[StackFactory]:
    made: list[Stack] = []

    def make(**kwargs: object) -> Stack:
        s = build_stack(tmp_path / f"c{len(made)}.sqlite3", **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.scheduler.stop()
        s.store.close()


"""Several coordinators on one store: no borrower dialled twice at once, caps held, a dead node's calls lost.

These run against a real PostgreSQL (the session's throwaway cluster) and, where one file allows it,
SQLite: each coordinator has its own store connection, scheduler, dialer and clock, like separate nodes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from campaign_fakes import at_local, borrower_row, run_for
from campaign_stack import Stack, build_stack

from campaign.model import AttemptStart
from campaign.store import PostgresStore, SqliteStore, SqlStore
from config.campaign_config import CampaignSettings

BORROWERS = 24
NODES = 3
START = at_local(2026, 11, 30, 10, 0)


def _store(engine: str, address: str, node: str) -> SqlStore:
    return PostgresStore(address, node_id=node) if engine == "postgres" else SqliteStore(address, node_id=node)


def _nodes(engine: str, address: str) -> list[Stack]:
    cfg = CampaignSettings(tick_seconds=1.0, max_concurrent_calls=6, calls_per_second=5.0)
    stacks = [build_stack(_store(engine, address, f"node-{i}"), start=START, settings=cfg) for i in range(NODES)]
    for s in stacks:
        s.placer.script = lambda target, n: "busy"  # never answered: every borrower is retried up to the caps
    return stacks


@pytest.fixture(params=["sqlite", "postgres"])
def address(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "postgres":
        return "postgres", str(request.getfixturevalue("pg_cluster").new_database())
    return "sqlite", str(tmp_path / "shared.sqlite3")


def test_three_coordinators_racing_never_dial_a_borrower_twice_or_past_a_cap(address: tuple[str, str]) -> None:
    """3 nodes tick in lock-step over one campaign for 80 minutes: attempts of one borrower never overlap,
    no attempt id repeats, C2/C3 per day hold for every borrower and number, and every node did dial."""
    engine, where = address
    stacks = _nodes(engine, where)
    try:
        first = stacks[0]
        c = first.service.create_campaign("race", strategy="standard")
        first.service.import_records(c.id, [borrower_row(i) for i in range(1, BORROWERS + 1)])
        first.service.start(c.id)
        for s in stacks:
            s.scheduler.start()
        barrier = threading.Barrier(NODES, timeout=60)
        errors: list[BaseException] = []

        def drive(s: Stack) -> None:
            try:
                for _ in range(80 * 6):  # 80 minutes in 10 s steps, each node at the same clock time
                    barrier.wait()
                    run_for(s.clock, 10.0, step=10.0)
                for s2 in (s,):
                    s2.scheduler.stop()
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=drive, args=(s,)) for s in stacks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        attempts = first.store.attempts(c.id)
    finally:
        for s in stacks:
            s.scheduler.stop()
            s.store.close()

    assert len({a["id"] for a in attempts}) == len(attempts)
    by_borrower: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in attempts:
        by_borrower[a["borrower_id"]].append(a)
    zone = ZoneInfo("Asia/Shanghai")
    for borrower, rows in by_borrower.items():
        rows.sort(key=lambda a: a["started_at"])
        for before, after in itertools.pairwise(rows):
            assert before["completed_at"] is not None and after["started_at"] >= before["completed_at"], (
                f"{borrower}: {after['id']} ({after['node_id']}) began while {before['id']} ({before['node_id']})"
                " was still dialling")
        per_day: dict[dt.date, int] = defaultdict(int)
        for a in rows:
            per_day[dt.datetime.fromtimestamp(a["started_at"], zone).date()] += 1
        assert max(per_day.values()) <= 3, f"{borrower}: {dict(per_day)} attempts a day (C3 'standard' allows 3)"
    assert len(by_borrower) == BORROWERS
    assert sum(len(r) for r in by_borrower.values()) == BORROWERS * 3  # busy every time: each reaches its cap
    nodes = {a["node_id"] for a in attempts}
    assert nodes == {f"node-{i}" for i in range(NODES)}, f"only {nodes} dialled: the race did not happen"


def test_a_silent_nodes_pending_attempts_are_lost_after_the_timeout_and_retried_after_spacing(
    address: tuple[str, str],
) -> None:
    """Node A begins an attempt and goes silent; node B leaves it alone for node_timeout, then closes it as
    lost (counted for C2/C3) with the borrower due again only after the strategy's retry spacing."""
    engine, where = address
    a_store = _store(engine, where, "node-a")
    b = build_stack(_store(engine, where, "node-b"), start=START,
                    settings=CampaignSettings(tick_seconds=1.0, max_concurrent_calls=2, calls_per_second=5.0))
    try:
        c = b.service.create_campaign("lost", strategy="standard")
        b.service.import_records(c.id, [borrower_row(1)])
        a_store.heartbeat(START)
        a_store.begin_attempt(AttemptStart("att-a", c.id, "B001", "+8613800130001", None, "scheduled", START))
        b.scheduler.start()  # B's own start-up recovery must not touch A's live-looking attempt
        run_for(b.clock, 20)
        assert [(x["id"], x["state"]) for x in b.store.attempts(c.id)] == [("att-a", "pending")]
        run_for(b.clock, 30)  # A silent for 50 s > node_timeout 30 s
        rows = b.store.attempts(c.id)
        assert [(x["id"], x["state"], x["node_id"]) for x in rows] == [("att-a", "lost", "node-a")]
        lost_at = rows[0]["completed_at"]
        assert START + 30 <= lost_at <= START + 50
        borrower = b.store.get_borrower(c.id, "B001")
        assert borrower.next_due_at is not None and borrower.next_due_at >= lost_at + 120 * 60 - 1  # 'unknown'
        assert b.store.count_attempts_to_borrower("B001", START - 1, START + 86400) == 1
        assert b.placer.dials == []  # not redialled at once
        assert {n["node_id"] for n in b.store.nodes()} == {"node-a", "node-b"}
    finally:
        b.scheduler.stop()
        b.store.close()
        a_store.close()

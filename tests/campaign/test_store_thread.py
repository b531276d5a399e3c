"""Long store jobs on campaign.store_thread: off the reactor, over a connection of their own, on both engines."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from campaign_fakes import borrower_row, run_for
from campaign_stack import Stack, build_stack
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

from campaign.importer import RawRow
from campaign.service import CampaignStateError
from campaign.store import CampaignStore, PostgresStore, SqliteStore, SqlStore, StoreUrlError
from campaign.store_thread import StoreThread

reactor: Any = _reactor
ROWS = 5000


def wait(d: Deferred[Any], timeout: float = 60.0) -> Any:
    """Iterate the (never started) global reactor until `d` fires; its failure is raised here."""
    out: list[Any] = []
    d.addBoth(out.append)
    end = reactor.seconds() + timeout
    while not out:
        assert reactor.seconds() < end, "the store job did not finish"
        reactor.iterate(0.005)
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    store: SqlStore
    if request.param == "postgres":
        store = PostgresStore(request.getfixturevalue("pg_cluster").new_database())
    else:
        store = SqliteStore(tmp_path / "jobs.sqlite3")
    s = build_stack(store)
    yield s
    s.scheduler.stop()
    s.store.close()


def test_a_job_runs_on_its_own_thread_and_connection_and_the_reactor_store_sees_its_commit(stack: Stack) -> None:
    jobs = StoreThread(stack.store, reactor)
    seen: dict[str, Any] = {}

    def job(store: CampaignStore) -> str:
        seen["thread"], seen["store"] = threading.current_thread(), store
        store.audit("tester", "store_job", None, {"n": 1}, 1.0)
        return "written"

    try:
        assert wait(jobs.run(job)) == "written"
        assert seen["thread"] is not threading.current_thread()
        assert seen["store"] is not stack.store and seen["store"].connection is not stack.store.connection
        assert [e["action"] for e in stack.store.audit_log()][-1] == "store_job"
        assert wait(jobs.run(lambda store: store)) is seen["store"]  # one connection, reused
    finally:
        jobs.close()
    with pytest.raises((sqlite3.ProgrammingError, psycopg.OperationalError)):  # closed with the thread
        seen["store"].audit_log()


def test_a_failing_job_fails_its_deferred_and_writes_nothing(stack: Stack) -> None:
    c = stack.service.create_campaign("bad")
    stack.service.import_records(c.id, [borrower_row(1)])
    jobs = StoreThread(stack.store, reactor)

    def job(store: CampaignStore) -> None:
        with store.transaction() as db:
            db.execute("UPDATE borrowers SET status = 'stopped'")
            raise RuntimeError("disk gone")

    try:
        with pytest.raises(RuntimeError, match="disk gone"):
            wait(jobs.run(job))
    finally:
        jobs.close()
    assert stack.store.get_borrower(c.id, "B001").status == "active"


def test_the_reactor_keeps_turning_while_an_import_is_validated_and_written(stack: Stack) -> None:
    """5,000 rows validated and written (with the after-import hook) on the store thread; a 10 ms timer on
    the reactor fires all along, and the hook ran on that thread with that thread's store."""
    c = stack.service.create_campaign("big")
    hooked: list[tuple[str, CampaignStore]] = []
    stack.service.after_import.append(lambda store, cid, actor: hooked.append((threading.current_thread().name, store)))
    rows = [RawRow(i, {k: str(v) for k, v in borrower_row(i, id=f"B{i:05d}", phone=f"139{i:08d}").items()})
            for i in range(1, ROWS + 1)]
    jobs = StoreThread(stack.store, reactor)
    ticks: list[float] = []
    loop = LoopingCall(lambda: ticks.append(reactor.seconds()))
    loop.clock = reactor
    loop.start(0.01)
    try:
        importer = stack.service.importer
        prepared = wait(jobs.call(lambda: importer.prepare(rows)))
        before = len(ticks)
        report = wait(jobs.run(lambda store: stack.service.import_prepared(c.id, prepared, "tester", "rows",
                                                                          store=store)))
        during = len(ticks) - before
    finally:
        loop.stop()
        jobs.close()
    assert report.inserted == ROWS
    assert stack.store.progress(c.id)["borrowers"] == ROWS
    assert during >= 5, f"the reactor turned {during} times while {ROWS} rows were written"
    (thread, store), = hooked
    assert thread != threading.current_thread().name and store is not stack.store


def test_without_a_reactor_or_with_an_in_memory_store_jobs_run_inline(tmp_path: Path) -> None:
    memory = SqliteStore(":memory:")
    try:
        assert not memory.can_reopen()
        with pytest.raises(StoreUrlError):
            memory.reopen()
        for jobs in (StoreThread(memory, reactor), StoreThread(memory, None)):
            d = jobs.run(lambda store: (threading.current_thread(), store))
            assert d.called
            assert wait(d) == (threading.current_thread(), memory)
            jobs.close()
    finally:
        memory.close()


def test_a_held_campaign_dials_nobody_until_every_hold_is_released(tmp_path: Path) -> None:
    s = build_stack(tmp_path / "hold.sqlite3")
    try:
        c = s.service.create_campaign("held")
        s.service.import_records(c.id, [borrower_row(i) for i in range(1, 4)])
        s.scheduler.hold(c.id)
        s.scheduler.hold(c.id)  # two imports queued on the store thread
        s.service.start(c.id)  # ticks at once: held, so no dial
        s.scheduler.start()
        run_for(s.clock, 30)
        assert s.runner.runs == [] and s.scheduler.importing == {c.id}
        s.scheduler.release(c.id)
        run_for(s.clock, 30)
        assert s.runner.runs == []
        s.scheduler.release(c.id)
        run_for(s.clock, 30)
        assert sorted(s.runner.runs) == ["B001", "B002", "B003"] and s.scheduler.importing == frozenset()
    finally:
        s.scheduler.stop()
        s.store.close()


def test_an_import_refused_on_the_store_thread_releases_its_hold(stack: Stack) -> None:
    """The campaign finished between validation and write: the write is refused there, the hold goes."""
    from api.web import CampaignApi
    from config.campaign_config import HttpSettings
    from telemetry.metrics import Registry

    api = CampaignApi(stack.service, HttpSettings(port=0, tokens=("t" * 24,)), Registry(), reactor=reactor)
    c = stack.service.create_campaign("late")
    stack.service.import_records(c.id, [borrower_row(1)])
    prepared = stack.service.importer.prepare_records([borrower_row(2)])
    stack.store.set_campaign_state(c.id, "finished", stack.clock.seconds())
    try:
        with pytest.raises(CampaignStateError, match="finished"):
            wait(api._import_borrowers(c.id, prepared, "tester", "rows"))
    finally:
        api.close()
    assert stack.scheduler.importing == frozenset()
    assert stack.store.progress(c.id)["borrowers"] == 1

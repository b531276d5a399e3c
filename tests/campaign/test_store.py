"""The store on SQLite and PostgreSQL: migrations, retention (C10), crash recovery of pending attempts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from campaign_fakes import borrower_row, run_for
from campaign_stack import StackFactory, both_engines

from campaign.migrations import MIGRATIONS
from campaign.model import AttemptStart
from campaign.store import RetentionError, SqliteStore, SqlStore

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL


def test_schema_is_versioned_and_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    """A new database gets the latest version in WAL mode; reopening keeps one row per version."""
    store = SqliteStore(tmp_path / "s.db")
    assert store.schema_version == MIGRATIONS[-1].version
    store.close()
    store = SqliteStore(tmp_path / "s.db")
    store.close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in db.execute("SELECT version FROM schema_version")] == [m.version for m in MIGRATIONS]


def test_deleting_a_young_call_is_refused(stack_factory: StackFactory) -> None:
    """A call younger than 730 days cannot be deleted and stays readable; an older one can."""
    s = stack_factory()
    c = s.service.create_campaign("ret")
    s.service.import_records(c.id, [borrower_row(1)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    call_id = s.store.list_calls(c.id)[0]["call_id"]
    with pytest.raises(RetentionError, match="C10"):
        s.store.delete_call(call_id, s.clock.seconds() + 729 * 86400)
    assert s.store.get_call(call_id)["call_id"] == call_id
    s.store.delete_call(call_id, s.clock.seconds() + 731 * 86400)
    assert s.store.list_calls(c.id) == []


def test_pending_attempt_survives_restart_and_still_counts(stack_factory: StackFactory, tmp_path: Path) -> None:
    """An attempt written before a crash is kept as 'lost' on restart, counted by C2/C3, and retried."""
    s = stack_factory()
    c = s.service.create_campaign("crash")
    s.service.import_records(c.id, [borrower_row(1)])
    now = s.clock.seconds()
    s.store.begin_attempt(AttemptStart("att-x", c.id, "B001", "+8613800130001", None, "scheduled", now))
    s.store.close()  # the process dies here: nothing else is written
    s2 = stack_factory()
    s2.store.close()
    s2.store = s.store.reopen()
    s2.scheduler.store = s2.store
    s2.scheduler.gate.store = s2.store
    s2.clock.advance(now - s2.clock.seconds() + 5)
    assert s2.scheduler.recover() == ["att-x"]
    attempts = s2.store.attempts(c.id)
    assert [(a["id"], a["state"], a["disposition"]) for a in attempts] == [("att-x", "lost", "unknown")]
    assert s2.store.count_unanswered_to_number("+8613800130001", now - 10, now + 10) == 1
    b = s2.store.get_borrower(c.id, "B001")
    assert b.status == "active" and b.next_due_at is not None and b.attempts_total == 1


def test_result_and_follow_up_are_written_together(stack_factory: StackFactory,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """If writing the follow-up fails, no call, outcome or opt-out is half-stored; the attempt is kept as lost."""
    s = stack_factory()
    s.runner.outcome = lambda b: {"disposition": "opt_out", "opt_out": True}
    c = s.service.create_campaign("atomic")
    s.service.import_records(c.id, [borrower_row(1)])

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(SqlStore, "_apply_follow_up", staticmethod(broken))
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 60)
    assert [(a["state"], a["disposition"]) for a in s.store.attempts(c.id)] == [("lost", "unknown")]
    assert s.store.list_calls(c.id) == [] and not s.store.is_opted_out("+8613800130001")
    b = s.store.get_borrower(c.id, "B001")
    assert b.status == "active" and b.next_due_at is not None  # retried later, still under the caps
    monkeypatch.undo()
    run_for(s.clock, 3 * 3600, step=30)  # 'standard' retries an unknown result after 2 h
    assert s.store.is_opted_out("+8613800130001")
    assert s.store.get_borrower(c.id, "B001").stop_reason == "opt_out"


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database written by a build that knew only migration 1 keeps its rows and gains the later indexes."""
    import campaign.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    old = SqliteStore(tmp_path / "old.db")
    assert old.schema_version == 1
    old._db.execute("INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES (1, 'op', 'x', NULL, '{}')")
    old.close()
    monkeypatch.undo()
    new = SqliteStore(tmp_path / "old.db")
    assert new.schema_version == MIGRATIONS[-1].version >= 2
    assert [a["actor"] for a in new.audit_log()] == ["op"]
    names = {r[0] for r in new._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"attempts_by_time", "borrowers_active_groups"} <= names
    new.close()

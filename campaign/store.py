"""Campaign persistence: the `CampaignStore` interface and `SqlStore`, its one implementation over SQL.

Why this shape: the dialer writes an attempt and commits it *before* the INVITE leaves and completes
it afterwards, so a crash (even kill -9) leaves either a completed attempt or a pending one that
`mark_lost` keeps as lost on restart - and every stored attempt still counts against the caps.

`SqlStore` runs the same queries on SQLite (`SqliteStore`, embedded, one machine) and PostgreSQL
(`PostgresStore`, shared by several `serve` nodes); what differs between the engines lives in
`campaign.db`. With several nodes, `claim_attempt` is what keeps two of them from dialling one
borrower, and `heartbeat` + `orphaned_attempts` let a live node close the attempts of a dead one.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from campaign.borrower_facts import BorrowerFact, Promise, active_promises, open_facts, record_call_facts
from campaign.db import (
    POSTGRES,
    SQLITE,
    Connection,
    Database,
    PostgresDatabase,
    SqliteDatabase,
    StoreAddress,
    StoreUrlError,
)
from campaign.migrations import MIGRATIONS
from campaign.model import (
    BORROWER_ACTIVE,
    AttemptStart,
    BorrowerState,
    Campaign,
    Contact,
    FollowUp,
    ImportedBorrower,
)
from session.record import CallRecord

if TYPE_CHECKING:
    from config.campaign_config import StoreSettings

SECONDS_PER_DAY = 86400.0
NODE_TIMEOUT_SECONDS = 30.0
_CHUNK = 500  # ids per IN (...) list: well under SQLite's 32,766 parameters
_BULK_ROWS = 1000  # an import this large refreshes the planner's statistics (campaign.db)
T = TypeVar("T")


def default_node_id() -> str:
    """This machine's name: stable across restarts, so a restarted node closes its own pending attempts at once."""
    return socket.gethostname() or "local"


@dataclass(frozen=True)
class Claim(Generic[T]):
    """What `claim_attempt` did: `begun` (stored, dial now), else `taken` (another node or call has the
    borrower, or it is no longer due) or `refused` (the recheck under the lock said no: `refusal`)."""

    begun: bool
    refusal: T | None = None

    @property
    def taken(self) -> bool:
        return not self.begun and self.refusal is None


class RetentionError(Exception):
    """Deleting records younger than the retention period is refused (COMPLIANCE C10)."""


class NotFoundError(KeyError):
    """A campaign, borrower or call id that the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class CampaignStore(Protocol):
    def create_campaign(self, campaign: Campaign) -> Campaign: ...
    def get_campaign(self, campaign_id: str) -> Campaign: ...
    def list_campaigns(self) -> list[Campaign]: ...
    def set_campaign_state(
        self, campaign_id: str, state: str, at: float, start_at: float | None = None
    ) -> Campaign: ...
    def upsert_borrowers(
        self, campaign_id: str, rows: Sequence[ImportedBorrower], now: float
    ) -> tuple[int, int, int]: ...
    def get_borrower(self, campaign_id: str, borrower_id: str) -> BorrowerState: ...
    def list_borrowers(self, campaign_id: str) -> list[BorrowerState]: ...
    def page_borrowers(
        self, campaign_id: str, *, status: str | None = None, search: str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[BorrowerState], int]: ...
    def active_groups(self, campaign_id: str) -> list[tuple[str | None, str | None, int]]: ...
    def due_borrowers(self, campaign_id: str, now: float, limit: int) -> list[BorrowerState]: ...
    def active_borrower_count(self, campaign_id: str) -> int: ...
    def contacts(self, campaign_id: str, borrower_id: str) -> list[Contact]: ...
    def inbound_candidates(self, phone: str) -> list[BorrowerState]: ...
    def mark_contact_invalid(self, campaign_id: str, borrower_id: str, phone: str, reason: str) -> None: ...
    def count_attempts_to_borrower(self, borrower_id: str, since: float, until: float) -> int: ...
    def count_unanswered_to_number(self, phone: str, since: float, until: float) -> int: ...
    def is_opted_out(self, phone: str) -> bool: ...
    def open_facts(self, borrower_id: str) -> list[BorrowerFact]: ...
    def active_promises(self, borrower_id: str) -> list[Promise]: ...
    def allocated_channel(self, borrower_id: str) -> tuple[str, str] | None: ...
    def allocated_step(self, borrower_id: str) -> str | None: ...
    def add_opt_out(
        self, phone: str, borrower_id: str | None, campaign_id: str | None, reason: str, at: float
    ) -> None: ...
    def begin_attempt(self, attempt: AttemptStart) -> None: ...
    def claim_attempt(
        self, attempt: AttemptStart, recheck: Callable[[], T | None], *, due_by: float | None
    ) -> Claim[T]: ...
    def heartbeat(self, now: float) -> None: ...
    def orphaned_attempts(self, now: float, node_timeout: float, *, own: bool = False) -> list[AttemptStart]: ...
    def complete_attempt(
        self, attempt_id: str, record: CallRecord, completed_at: float, follow_up: FollowUp | None = None
    ) -> None: ...
    def mark_lost(self, attempt_id: str, now: float, next_due_at: float, *, disposition: str = "unknown") -> None: ...
    def withdraw_attempt(self, attempt_id: str, next_due_at: float, next_reason: str) -> bool: ...
    def pending_attempts(self) -> list[AttemptStart]: ...
    def active_attempt_counts(
        self, campaign_id: str, timezone: str | None, since: float, until: float
    ) -> list[tuple[str | None, int]]: ...
    def schedule_borrower(
        self, campaign_id: str, borrower_id: str, *, status: str, next_due_at: float | None, next_reason: str,
        trunk_error_streak: int, stop_reason: str | None = None,
    ) -> None: ...
    def record_refusal(
        self, campaign_id: str, borrower_id: str, phone: str | None, rule: str, reason: str, at: float
    ) -> None: ...
    def audit(self, actor: str, action: str, campaign_id: str | None, detail: dict[str, Any], at: float) -> None: ...
    def progress(self, campaign_id: str) -> dict[str, Any]: ...
    def list_calls(self, campaign_id: str, limit: int, offset: int) -> list[dict[str, Any]]: ...
    def overview(self, campaign_id: str, limit: int = 50) -> dict[str, Any]: ...
    def get_call(self, call_id: str) -> dict[str, Any]: ...
    def delete_call(self, call_id: str, now: float) -> None: ...
    def audit_log(self, campaign_id: str | None = None) -> list[dict[str, Any]]: ...
    def reader(self) -> contextlib.AbstractContextManager[Connection]: ...
    @property
    def connection(self) -> Connection: ...
    def transaction(self) -> contextlib.AbstractContextManager[Connection]: ...
    def can_reopen(self) -> bool: ...
    def reopen(self) -> CampaignStore: ...
    def close(self) -> None: ...


class SqlStore:
    """The store over one `campaign.db.Database`; every query is written once for both engines."""

    path: Path | None = None  # the SQLite file, None on a server database

    def __init__(self, database: Database, retention_days: int = 730, node_id: str | None = None) -> None:
        self.database = database
        self.dialect = database.dialect
        self.retention_days = retention_days
        self.node_id = node_id or default_node_id()
        self._db = database.connection
        self.schema_version = self._migrate()

    # -- plumbing -------------------------------------------------------------------------------
    def _tx(self) -> contextlib.AbstractContextManager[Connection]:
        """One transaction: everything inside commits together or not at all."""
        return self.database.transaction()

    def _migrate(self) -> int:
        with self.database.migration_lock():
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
            current = row["v"] or 0
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                with self._tx() as db:
                    for statement in migration.statements(self.dialect):
                        db.execute(self.database.ddl(statement))
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
                current = migration.version
        return int(current)

    def close(self) -> None:
        self.database.close()

    @property
    def connection(self) -> Connection:
        """For modules that own tables of their own (campaign.ledger); reads only, writes via `transaction`."""
        return self._db

    def transaction(self) -> contextlib.AbstractContextManager[Connection]:
        return self._tx()

    def reader(self) -> contextlib.AbstractContextManager[Connection]:
        """A read-only connection of its own, for work on another thread (an evidence package)."""
        return self.database.reader()

    def can_reopen(self) -> bool:
        """Whether `reopen` can give a second connection to the same data (not for an in-memory store)."""
        return False

    def reopen(self) -> SqlStore:
        """The same store over a connection of its own, for writes on another thread (campaign.store_thread)."""
        raise StoreUrlError("this store has no second connection to write from")

    # -- borrower facts (across campaigns) --------------------------------------------------------
    def open_facts(self, borrower_id: str) -> list[BorrowerFact]:
        return open_facts(self._db, borrower_id)

    def active_promises(self, borrower_id: str) -> list[Promise]:
        return active_promises(self._db, borrower_id)

    def allocated_channel(self, borrower_id: str) -> tuple[str, str] | None:
        """(channel, rule) of the borrower's stored allocation (campaign.allocation_store), None if never allocated."""
        row = self._db.execute("SELECT channel, rule FROM allocations WHERE borrower_id = ?", (borrower_id,)).fetchone()
        return (str(row["channel"]), str(row["rule"])) if row is not None else None

    def allocated_step(self, borrower_id: str) -> str | None:
        """The legal step of the borrower's stored allocation (`mediation`, ...), None if none (campaign.mediation)."""
        row = self._db.execute("SELECT step FROM allocations WHERE borrower_id = ?", (borrower_id,)).fetchone()
        return str(row["step"]) if row is not None and row["step"] is not None else None

    # -- campaigns ------------------------------------------------------------------------------
    def create_campaign(self, campaign: Campaign) -> Campaign:
        with self._tx() as db:
            db.execute(
                "INSERT INTO campaigns (id, name, state, strategy, timezone, trunk, caller_id, max_concurrent_calls,"
                " calls_per_second, created_at, start_at, started_at, finished_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (campaign.id, campaign.name, campaign.state, campaign.strategy, campaign.timezone, campaign.trunk,
                 campaign.caller_id, campaign.max_concurrent_calls, campaign.calls_per_second, campaign.created_at,
                 campaign.start_at, campaign.started_at, campaign.finished_at),
            )
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        row = self._db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no campaign {campaign_id!r}")
        return _campaign(row)

    def list_campaigns(self) -> list[Campaign]:
        return [_campaign(r) for r in self._db.execute("SELECT * FROM campaigns ORDER BY created_at, id")]

    def set_campaign_state(self, campaign_id: str, state: str, at: float, start_at: float | None = None) -> Campaign:
        self.get_campaign(campaign_id)
        with self._tx() as db:
            db.execute("UPDATE campaigns SET state = ? WHERE id = ?", (state, campaign_id))
            if state == "running":
                db.execute("UPDATE campaigns SET started_at = COALESCE(started_at, ?) WHERE id = ?", (at, campaign_id))
            if state == "finished":
                db.execute("UPDATE campaigns SET finished_at = ? WHERE id = ?", (at, campaign_id))
            if state == "scheduled":
                db.execute("UPDATE campaigns SET start_at = ? WHERE id = ?", (start_at, campaign_id))
        return self.get_campaign(campaign_id)

    # -- borrowers ------------------------------------------------------------------------------
    def upsert_borrowers(
        self, campaign_id: str, rows: Sequence[ImportedBorrower], now: float
    ) -> tuple[int, int, int]:
        """Insert new borrowers, merge known ones; all rows in one transaction. Returns (new, merged, same).

        Known rows and numbers are read in chunks and the writes sent with `executemany`: a server database
        answers each statement over the network, and 10,000 rows one by one would hold the reactor for seconds.
        """
        self.get_campaign(campaign_id)
        inserted = merged = unchanged = 0
        fields = ("data", "timezone", "segment", "strategy", "script_set", "priority")
        new_rows: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        new_contacts: list[tuple[Any, ...]] = []
        with self._tx() as db:
            current: dict[str, tuple[Any, ...]] = {}
            phones: dict[str, list[str]] = {}
            ids = list(dict.fromkeys(row.borrower_id for row in rows))
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i:i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for r in db.execute(f"SELECT borrower_id, {', '.join(fields)} FROM borrowers WHERE campaign_id = ?"
                                    f" AND borrower_id IN ({marks})", (campaign_id, *chunk)):
                    current[r["borrower_id"]] = tuple(r[f] for f in fields)
                for r in db.execute(f"SELECT borrower_id, phone FROM contacts WHERE campaign_id = ?"
                                    f" AND borrower_id IN ({marks}) ORDER BY rank", (campaign_id, *chunk)):
                    phones.setdefault(r["borrower_id"], []).append(r["phone"])
            for row in rows:
                data_json = json.dumps(row.data, ensure_ascii=False, sort_keys=True)
                values = (data_json, row.timezone, row.segment, row.strategy, row.script_set, row.priority)
                known_phones = phones.setdefault(row.borrower_id, [])
                new_phones = [p for p in dict.fromkeys(row.phones) if p not in known_phones]
                old = current.get(row.borrower_id)
                if old is None:
                    new_rows.append((campaign_id, row.borrower_id, *values, BORROWER_ACTIVE, now, "scheduled", now))
                    inserted += 1
                elif old == values and not new_phones:
                    unchanged += 1
                    continue
                else:
                    updates.append((*values, campaign_id, row.borrower_id))
                    merged += 1
                current[row.borrower_id] = values
                start = len(known_phones)
                new_contacts.extend((campaign_id, row.borrower_id, phone, start + offset)
                                    for offset, phone in enumerate(new_phones))
                known_phones.extend(new_phones)
            if new_rows:
                db.executemany(
                    "INSERT INTO borrowers (campaign_id, borrower_id, data, timezone, segment, strategy, script_set,"
                    " priority, status, next_due_at, next_reason, trunk_error_streak, attempts_total, imported_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,0,0,?)", new_rows)
            if updates:
                db.executemany(
                    "UPDATE borrowers SET data = ?, timezone = ?, segment = ?, strategy = ?, script_set = ?,"
                    " priority = ? WHERE campaign_id = ? AND borrower_id = ?", updates)
            if new_contacts:
                db.executemany(
                    "INSERT INTO contacts (campaign_id, borrower_id, phone, rank, valid) VALUES (?,?,?,?,1)",
                    new_contacts)
        if len(new_rows) + len(updates) >= _BULK_ROWS:
            self.database.refresh_statistics(("borrowers", "contacts"))
        return inserted, merged, unchanged

    def get_borrower(self, campaign_id: str, borrower_id: str) -> BorrowerState:
        row = self._db.execute(
            "SELECT * FROM borrowers WHERE campaign_id = ? AND borrower_id = ?", (campaign_id, borrower_id)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no borrower {borrower_id!r} in campaign {campaign_id!r}")
        return _borrower(row)

    def list_borrowers(self, campaign_id: str) -> list[BorrowerState]:
        rows = self._db.execute(
            "SELECT * FROM borrowers WHERE campaign_id = ? ORDER BY borrower_id", (campaign_id,)
        )
        return [_borrower(r) for r in rows]

    def page_borrowers(
        self, campaign_id: str, *, status: str | None = None, search: str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[BorrowerState], int]:
        """One page of a campaign's borrowers (by id), optionally one status or ids containing `search`; and the
        total that matches, so a client can page without reading every row."""
        where, args = ["campaign_id = ?"], [campaign_id]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if search:
            where.append("replace(borrower_id, ?, '') <> borrower_id")  # contains, case-sensitive, both engines
            args.append(search)
        condition = " AND ".join(where)
        total = self._db.execute(f"SELECT COUNT(*) FROM borrowers WHERE {condition}", args).fetchone()[0]
        rows = self._db.execute(
            f"SELECT * FROM borrowers WHERE {condition} ORDER BY borrower_id LIMIT ? OFFSET ?", [*args, limit, offset])
        return [_borrower(r) for r in rows], int(total)

    def active_groups(self, campaign_id: str) -> list[tuple[str | None, str | None, int]]:
        """(time zone, strategy, how many) over the active borrowers: progress without reading every row."""
        rows = self._db.execute(
            "SELECT timezone, strategy, COUNT(*) FROM borrowers WHERE campaign_id = ? AND status = ?"
            " GROUP BY timezone, strategy", (campaign_id, BORROWER_ACTIVE),
        ).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def due_borrowers(self, campaign_id: str, now: float, limit: int) -> list[BorrowerState]:
        rows = self._db.execute(
            "SELECT * FROM borrowers WHERE campaign_id = ? AND status = ? AND next_due_at IS NOT NULL"
            " AND next_due_at <= ? ORDER BY priority DESC, next_due_at, borrower_id LIMIT ?",
            (campaign_id, BORROWER_ACTIVE, now, limit),
        )
        return [_borrower(r) for r in rows]

    def active_borrower_count(self, campaign_id: str) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) AS n FROM borrowers WHERE campaign_id = ? AND status = ?", (campaign_id, BORROWER_ACTIVE)
        ).fetchone()
        return int(row["n"])

    def inbound_candidates(self, phone: str) -> list[BorrowerState]:
        """Borrowers a caller from `phone` (E.164) may be, across every campaign not finished (issue 14).

        Only valid contacts: a number marked wrong for a borrower does not identify them. Active
        borrowers first, then the newest campaign; plain SQL that SQLite and PostgreSQL both accept.
        """
        rows = self._db.execute(
            "SELECT b.* FROM contacts k"
            " JOIN borrowers b ON b.campaign_id = k.campaign_id AND b.borrower_id = k.borrower_id"
            " JOIN campaigns c ON c.id = k.campaign_id"
            " WHERE k.phone = ? AND k.valid = 1 AND c.state <> 'finished'"
            " ORDER BY CASE WHEN b.status = ? THEN 0 ELSE 1 END, c.created_at DESC, b.campaign_id, b.borrower_id",
            (phone, BORROWER_ACTIVE),
        )
        return [_borrower(r) for r in rows]

    def contacts(self, campaign_id: str, borrower_id: str) -> list[Contact]:
        rows = self._db.execute(
            "SELECT phone, valid FROM contacts WHERE campaign_id = ? AND borrower_id = ? ORDER BY rank",
            (campaign_id, borrower_id),
        )
        return [Contact(phone=r["phone"], valid=bool(r["valid"])) for r in rows]

    def mark_contact_invalid(self, campaign_id: str, borrower_id: str, phone: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE contacts SET valid = 0, invalid_reason = ?"
                " WHERE campaign_id = ? AND borrower_id = ? AND phone = ?",
                (reason, campaign_id, borrower_id, phone),
            )

    def schedule_borrower(
        self, campaign_id: str, borrower_id: str, *, status: str, next_due_at: float | None, next_reason: str,
        trunk_error_streak: int, stop_reason: str | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE borrowers SET status = ?, next_due_at = ?, next_reason = ?, trunk_error_streak = ?,"
                " stop_reason = ? WHERE campaign_id = ? AND borrower_id = ?",
                (status, next_due_at, next_reason, trunk_error_streak, stop_reason, campaign_id, borrower_id),
            )

    # -- compliance counters --------------------------------------------------------------------
    def count_attempts_to_borrower(self, borrower_id: str, since: float, until: float) -> int:
        """All outbound attempts, any campaign, pending and lost ones included: an unknown result still counts.

        Calls the borrower made to us (direction 'inbound') are not attempts to reach them (C2/C3).
        """
        row = self._db.execute(
            "SELECT COUNT(*) AS n FROM attempts WHERE borrower_id = ? AND started_at >= ? AND started_at < ?"
            " AND direction = 'outbound'",
            (borrower_id, since, until),
        ).fetchone()
        return int(row["n"])

    def count_unanswered_to_number(self, phone: str, since: float, until: float) -> int:
        """Attempts to a number that were not answered; pending/lost ones count as unanswered (stricter)."""
        row = self._db.execute(
            "SELECT COUNT(*) AS n FROM attempts WHERE phone = ? AND started_at >= ? AND started_at < ?"
            " AND COALESCE(disposition, '') != 'answered' AND direction = 'outbound'",
            (phone, since, until),
        ).fetchone()
        return int(row["n"])

    def is_opted_out(self, phone: str) -> bool:
        return self._db.execute("SELECT 1 FROM opt_outs WHERE phone = ?", (phone,)).fetchone() is not None

    def add_opt_out(
        self, phone: str, borrower_id: str | None, campaign_id: str | None, reason: str, at: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO opt_outs (phone, borrower_id, campaign_id, reason, created_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (phone) DO NOTHING",
                (phone, borrower_id, campaign_id, reason, at),
            )

    # -- attempts and calls ---------------------------------------------------------------------
    def begin_attempt(self, attempt: AttemptStart) -> None:
        """Commit the attempt (before its INVITE, or before an inbound call is answered); the borrower is
        not due while the call lasts. Only outbound attempts use up `max_attempts_total`."""
        with self._tx() as db:
            self._insert_attempt(db, attempt)

    def _insert_attempt(self, db: Connection, attempt: AttemptStart) -> None:
        if attempt.direction not in ("outbound", "inbound"):
            raise ValueError(f"attempt direction must be 'outbound' or 'inbound', not {attempt.direction!r}")
        db.execute(
            "INSERT INTO attempts (id, campaign_id, borrower_id, phone, trunk, reason, started_at, state, node_id,"
            " direction) VALUES (?,?,?,?,?,?,?,'pending',?,?)",
            (attempt.attempt_id, attempt.campaign_id, attempt.borrower_id, attempt.phone, attempt.trunk,
             attempt.reason, attempt.started_at, self.node_id, attempt.direction),
        )
        db.execute(
            "UPDATE borrowers SET attempts_total = attempts_total + ?, next_due_at = NULL, next_reason = 'in_call'"
            " WHERE campaign_id = ? AND borrower_id = ?",
            (1 if attempt.direction == "outbound" else 0, attempt.campaign_id, attempt.borrower_id),
        )

    def claim_attempt(
        self, attempt: AttemptStart, recheck: Callable[[], T | None], *, due_by: float | None
    ) -> Claim[T]:
        """Begin `attempt` only if this node wins the borrower: one transaction that two nodes cannot both win.

        Under the engine's claim lock (campaign.db `lock_claim`) the borrower must still be active, due
        by `due_by` (None: a manual call, any time) and without a pending attempt; then `recheck` runs
        the compliance gate again, its C2/C3 counts now including every attempt a rival committed.
        `recheck` reads through this store, on the same connection, so inside the transaction.
        """
        with self._tx() as db:
            if not self.database.lock_claim(db, attempt.campaign_id, attempt.borrower_id, attempt.phone, due_by,
                                            BORROWER_ACTIVE):
                return Claim(begun=False)
            refusal = recheck()
            if refusal is not None:
                return Claim(begun=False, refusal=refusal)
            self._insert_attempt(db, attempt)
        return Claim(begun=True)

    # -- nodes ----------------------------------------------------------------------------------
    def heartbeat(self, now: float) -> None:
        """This node is alive at `now` (its clock): another node closes its pending attempts only after silence."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO nodes (node_id, started_at, heartbeat_at) VALUES (?,?,?)"
                " ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (self.node_id, now, now),
            )

    def nodes(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM nodes ORDER BY node_id")]

    def orphaned_attempts(self, now: float, node_timeout: float, *, own: bool = False) -> list[AttemptStart]:
        """Pending attempts of other nodes silent since `now - node_timeout` (or never seen); with `own`
        (at start-up) also this node's from before its restart and those begun before nodes were recorded."""
        mine = " OR a.node_id IS NULL OR a.node_id = ?" if own else ""
        rows = self._db.execute(
            "SELECT a.* FROM attempts a LEFT JOIN nodes n ON n.node_id = a.node_id WHERE a.state = 'pending'"
            f" AND ((a.node_id <> ? AND (n.node_id IS NULL OR n.heartbeat_at < ?)){mine})"
            " ORDER BY a.started_at, a.id",
            (self.node_id, now - node_timeout, *((self.node_id,) if own else ())),
        )
        return [_attempt(r) for r in rows]

    def complete_attempt(
        self, attempt_id: str, record: CallRecord, completed_at: float, follow_up: FollowUp | None = None
    ) -> None:
        """Attempt result, call, turns, outcome and the follow-up it decides, in one transaction.

        One transaction because a crash between "the borrower opted out" and "the number is on the
        DNC list" would otherwise let the next call through (C7).
        """
        row = self._db.execute("SELECT * FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no attempt {attempt_id!r}")
        outcome = record.outcome or {}
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET state = 'completed', completed_at = ?, disposition = ?, sip_code = ?,"
                " call_id = ? WHERE id = ?",
                (completed_at, record.disposition, record.sip_code, record.call_id, attempt_id),
            )
            db.execute(
                "INSERT INTO calls (call_id, attempt_id, campaign_id, borrower_id, phone, disposition,"
                " outcome, sip_code, invite_sent_at, answered_at, ended_at, duration_s, recording, record, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.call_id, attempt_id, row["campaign_id"], row["borrower_id"], row["phone"],
                 record.disposition, outcome.get("disposition"), record.sip_code, record.invite_sent_at,
                 record.answered_at, record.ended_at, record.duration_s, record.recording,
                 json.dumps(record.to_dict(), ensure_ascii=False, default=str), completed_at),
            )
            db.execute("DELETE FROM turns WHERE call_id = ?", (record.call_id,))
            for turn in record.turns:
                db.execute(
                    "INSERT INTO turns (call_id, idx, heard_text, intent, confidence, node, prompt_text, data)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (record.call_id, turn.index, turn.heard_text, turn.intent, turn.confidence, turn.node,
                     turn.prompt_text, json.dumps(turn.to_dict(), ensure_ascii=False)),
                )
            if record.outcome is not None:
                db.execute(
                    "INSERT INTO outcomes (call_id, campaign_id, borrower_id, disposition, ptp_date,"
                    " ptp_amount, callback_at, data, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (record.call_id, row["campaign_id"], row["borrower_id"], outcome.get("disposition"),
                     _text_or_none(outcome.get("ptp_date")), outcome.get("ptp_amount"),
                     _text_or_none(outcome.get("callback_at")),
                     json.dumps(outcome, ensure_ascii=False, default=str), completed_at),
                )
            if follow_up is not None:
                self._apply_follow_up(db, row, record, follow_up, completed_at)
            record_call_facts(db, row, record, follow_up, completed_at)

    @staticmethod
    def _apply_follow_up(
        db: Connection, attempt: Any, record: CallRecord, plan: FollowUp, at: float
    ) -> None:
        key = (attempt["campaign_id"], attempt["borrower_id"])
        if plan.opt_out_phone:
            db.execute(
                "INSERT INTO opt_outs (phone, borrower_id, campaign_id, reason, created_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (phone) DO NOTHING",
                (attempt["phone"], key[1], key[0], "borrower asked", at),
            )
        if plan.invalidate_phone:
            db.execute(
                "UPDATE contacts SET valid = 0, invalid_reason = ? WHERE campaign_id = ? AND borrower_id = ?"
                " AND phone = ?", (record.disposition, *key, attempt["phone"]),
            )
        # Only an active borrower is rescheduled: an operator who stopped them during the call wins.
        db.execute(
            "UPDATE borrowers SET status = ?, next_due_at = ?, next_reason = ?, trunk_error_streak = ?,"
            " stop_reason = ? WHERE campaign_id = ? AND borrower_id = ? AND status = ?",
            (plan.status, plan.next_due_at, plan.next_reason, plan.trunk_error_streak, plan.stop_reason, *key,
             BORROWER_ACTIVE),
        )

    def mark_lost(self, attempt_id: str, now: float, next_due_at: float, *, disposition: str = "unknown") -> None:
        """An attempt whose outcome can no longer be known (crash, internal error): kept, counted, retried.

        `disposition` says why when known (`worker_lost`: its call worker died); anything but `answered`
        counts as unanswered for C2, as before.
        """
        with self._tx() as db:  # the state check in the UPDATE: two nodes closing one attempt close it once
            row = db.execute(
                "UPDATE attempts SET state = 'lost', disposition = ?, completed_at = ? WHERE id = ?"
                " AND state = 'pending' RETURNING campaign_id, borrower_id",
                (disposition if disposition != "answered" else "unknown", now, attempt_id)).fetchone()
            if row is None:
                return
            db.execute(
                "UPDATE borrowers SET next_due_at = ?, next_reason = 'retry' WHERE campaign_id = ? AND borrower_id = ?"
                " AND status = ? AND next_due_at IS NULL",
                (next_due_at, row["campaign_id"], row["borrower_id"], BORROWER_ACTIVE),
            )

    def withdraw_attempt(self, attempt_id: str, next_due_at: float, next_reason: str) -> bool:
        """Undo `begin_attempt` for a dial refused before any SIP left (endpoint busy): not a call, not counted.

        Only a pending attempt is withdrawn (False otherwise); the borrower gets back the due time and
        reason it had, so it keeps its place in the queue.
        """
        with self._tx() as db:
            row = db.execute("SELECT campaign_id, borrower_id FROM attempts WHERE id = ? AND state = 'pending'",
                             (attempt_id,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM attempts WHERE id = ?", (attempt_id,))
            key = (row["campaign_id"], row["borrower_id"])
            db.execute("UPDATE borrowers SET attempts_total = CASE WHEN attempts_total > 0 THEN attempts_total - 1"
                       " ELSE 0 END"
                       " WHERE campaign_id = ? AND borrower_id = ?", key)
            db.execute(
                "UPDATE borrowers SET next_due_at = ?, next_reason = ?"
                " WHERE campaign_id = ? AND borrower_id = ? AND status = ? AND next_due_at IS NULL",
                (next_due_at, next_reason, *key, BORROWER_ACTIVE),
            )
            return True

    def pending_attempts(self) -> list[AttemptStart]:
        rows = self._db.execute("SELECT * FROM attempts WHERE state = 'pending' ORDER BY started_at")
        return [_attempt(r) for r in rows]

    def active_attempt_counts(
        self, campaign_id: str, timezone: str | None, since: float, until: float
    ) -> list[tuple[str | None, int]]:
        """(strategy, attempts in [since, until)) per active borrower of one zone that has any, over every
        campaign as C3 counts them."""
        zone = "w.timezone IS NULL" if timezone is None else "w.timezone = ?"  # both indexable, unlike IS ?
        rows = self._db.execute(
            "SELECT w.strategy, a.n FROM (SELECT borrower_id, COUNT(*) AS n FROM attempts"
            " WHERE started_at >= ? AND started_at < ? AND direction = 'outbound' GROUP BY borrower_id) a"
            " JOIN borrowers w ON w.campaign_id = ? AND w.borrower_id = a.borrower_id"
            f" WHERE w.status = ? AND {zone}",
            (since, until, campaign_id, BORROWER_ACTIVE, *(() if timezone is None else (timezone,))),
        ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    def attempts(self, campaign_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM attempts WHERE campaign_id = ? ORDER BY started_at, id", (campaign_id,))
        return [dict(r) for r in rows]

    def refusals(self, campaign_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM refusals WHERE campaign_id = ? ORDER BY id", (campaign_id,))
        return [dict(r) for r in rows]

    def record_refusal(
        self, campaign_id: str, borrower_id: str, phone: str | None, rule: str, reason: str, at: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO refusals (campaign_id, borrower_id, phone, rule, reason, at) VALUES (?,?,?,?,?,?)",
                (campaign_id, borrower_id, phone, rule, reason, at),
            )

    def audit(self, actor: str, action: str, campaign_id: str | None, detail: dict[str, Any], at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES (?,?,?,?,?)",
                (at, actor, action, campaign_id, json.dumps(detail, ensure_ascii=False, default=str)),
            )

    def audit_log(self, campaign_id: str | None = None) -> list[dict[str, Any]]:
        if campaign_id is None:
            rows = self._db.execute("SELECT * FROM audit_log ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM audit_log WHERE campaign_id = ? ORDER BY id", (campaign_id,))
        return [dict(r) for r in rows]

    # -- reporting ------------------------------------------------------------------------------
    def progress(self, campaign_id: str) -> dict[str, Any]:
        """Counts for operators: borrowers by status, calls by disposition/outcome, promises, attempts."""
        self.get_campaign(campaign_id)
        q = self._db.execute
        by_status = {r["status"]: r["n"] for r in q(
            "SELECT status, COUNT(*) AS n FROM borrowers WHERE campaign_id = ? GROUP BY status", (campaign_id,))}
        by_disposition = {r["disposition"]: r["n"] for r in q(
            "SELECT disposition, COUNT(*) AS n FROM attempts WHERE campaign_id = ? AND state != 'pending'"
            " GROUP BY disposition", (campaign_id,))}
        by_outcome = {r["disposition"]: r["n"] for r in q(
            "SELECT disposition, COUNT(*) AS n FROM outcomes WHERE campaign_id = ? GROUP BY disposition",
            (campaign_id,))}
        ptp = q(  # one row per promise (a restated promise keeps its row; a superseded one is not counted)
            "SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM promises"
            " WHERE campaign_id = ? AND state != 'superseded'", (campaign_id,)).fetchone()
        attempts = q("SELECT COUNT(*) AS n FROM attempts WHERE campaign_id = ?", (campaign_id,)).fetchone()["n"]
        pending = q("SELECT COUNT(*) AS n FROM attempts WHERE campaign_id = ? AND state = 'pending'",
                    (campaign_id,)).fetchone()["n"]
        refused = {r["rule"]: r["n"] for r in q(
            "SELECT rule, COUNT(*) AS n FROM refusals WHERE campaign_id = ? GROUP BY rule", (campaign_id,))}
        return {
            "borrowers": sum(by_status.values()),
            "borrowers_by_status": by_status,
            "attempts": attempts,
            "attempts_pending": pending,
            "dispositions": by_disposition,
            "outcomes": by_outcome,
            "promises": ptp["n"],
            "promised_amount": float(ptp["total"]),
            "refusals_by_rule": refused,
        }

    def overview(self, campaign_id: str, limit: int = 50) -> dict[str, Any]:
        """Dashboard figures from stored rows: answer and contact rates, promises, the callback queue.

        Answer rate: answered / finished attempts. Contact rate: borrowers reached in person (an
        answered call whose outcome is not wrong number, third party or no response) / borrowers
        dialled. Both None before the first finished attempt.
        """
        self.get_campaign(campaign_id)
        q = self._db.execute
        done = q("SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END), 0)"
                 " AS answered,"
                 " COUNT(DISTINCT borrower_id) AS dialled FROM attempts WHERE campaign_id = ? AND state != 'pending'",
                 (campaign_id,)).fetchone()
        reached = q("SELECT COUNT(DISTINCT borrower_id) AS n FROM outcomes WHERE campaign_id = ? AND disposition"
                    " IS NOT NULL AND disposition NOT IN ('wrong_number', 'third_party', 'no_response')",
                    (campaign_id,)).fetchone()["n"]
        promises = [dict(r) for r in q(
            "SELECT call_id, borrower_id, ptp_date, ptp_amount, created_at FROM outcomes WHERE campaign_id = ?"
            " AND disposition = 'promise_to_pay' ORDER BY ptp_date, created_at LIMIT ?", (campaign_id, limit))]
        callbacks = [dict(r) for r in q(
            "SELECT b.borrower_id, b.next_due_at AS due_at, b.timezone,"
            " (SELECT o.callback_at FROM outcomes o WHERE o.campaign_id = b.campaign_id AND o.borrower_id ="
            " b.borrower_id ORDER BY o.created_at DESC LIMIT 1) AS requested"
            " FROM borrowers b WHERE b.campaign_id = ? AND b.status = ? AND b.next_reason = 'callback'"
            " ORDER BY b.next_due_at, b.borrower_id LIMIT ?", (campaign_id, BORROWER_ACTIVE, limit))]
        finished, dialled = int(done["n"]), int(done["dialled"])
        return {
            "attempts_finished": finished, "answered": int(done["answered"]), "borrowers_dialled": dialled,
            "borrowers_reached": int(reached),
            "answer_rate": round(int(done["answered"]) / finished, 4) if finished else None,
            "contact_rate": round(int(reached) / dialled, 4) if dialled else None,
            "promises": promises, "callbacks": callbacks,
        }

    def list_calls(self, campaign_id: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT call_id, attempt_id, borrower_id, phone, disposition, outcome, sip_code, invite_sent_at,"
            " answered_at, ended_at, duration_s, recording FROM calls WHERE campaign_id = ?"
            " ORDER BY invite_sent_at DESC, call_id LIMIT ? OFFSET ?",
            (campaign_id, limit, offset),
        )
        return [dict(r) for r in rows]

    def get_call(self, call_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no call {call_id!r}")
        call = dict(row)
        call["record"] = json.loads(call["record"])
        call["turns"] = [json.loads(r["data"]) for r in self._db.execute(
            "SELECT data FROM turns WHERE call_id = ? ORDER BY idx", (call_id,))]
        return call

    def delete_call(self, call_id: str, now: float) -> None:
        """C10: a call (and its recording reference) younger than the retention period cannot be deleted."""
        call = self.get_call(call_id)
        age_days = (now - float(call["created_at"])) / SECONDS_PER_DAY
        if age_days < self.retention_days:
            raise RetentionError(
                f"call {call_id} is {age_days:.0f} days old; records and recordings are kept at least "
                f"{self.retention_days} days (COMPLIANCE C10)"
            )
        with self._tx() as db:
            db.execute("DELETE FROM turns WHERE call_id = ?", (call_id,))
            db.execute("DELETE FROM outcomes WHERE call_id = ?", (call_id,))
            db.execute("DELETE FROM calls WHERE call_id = ?", (call_id,))
        if call["recording"]:
            Path(call["recording"]).unlink(missing_ok=True)


class SqliteStore(SqlStore):
    """The embedded store of one machine: SQLite in WAL mode (campaign.db.SqliteDatabase)."""

    def __init__(self, path: Path | str, retention_days: int = 730, node_id: str | None = None) -> None:
        self.path = Path(path)
        super().__init__(SqliteDatabase(path), retention_days, node_id)

    def can_reopen(self) -> bool:
        return str(self.path) != ":memory:"

    def reopen(self) -> SqliteStore:
        if self.path is None or not self.can_reopen():
            raise StoreUrlError("an in-memory SQLite store has no second connection")
        return SqliteStore(self.path, self.retention_days, self.node_id)


class PostgresStore(SqlStore):
    """The store shared by several `serve` nodes: PostgreSQL over psycopg 3 (campaign.db.PostgresDatabase)."""

    def __init__(self, url: str, retention_days: int = 730, node_id: str | None = None) -> None:
        self.url = url
        super().__init__(PostgresDatabase(url), retention_days, node_id)

    def can_reopen(self) -> bool:
        return True

    def reopen(self) -> PostgresStore:
        return PostgresStore(self.url, self.retention_days, self.node_id)


def open_address(address: StoreAddress, retention_days: int = 730, node_id: str | None = None) -> SqlStore:
    """The store at an address (`campaign.db.parse_address`: `sqlite:PATH` or a PostgreSQL URL)."""
    if address.dialect == POSTGRES:
        return PostgresStore(address.target, retention_days, node_id)
    return SqliteStore(address.target, retention_days, node_id)


def open_store(settings: StoreSettings) -> SqlStore:
    """The store `[store]` names: PostgreSQL when `url` is set, else the SQLite file at `path`."""
    if settings.url is not None:
        address = StoreAddress(POSTGRES, settings.url)
    else:
        address = StoreAddress(SQLITE, str(settings.path))
    return open_address(address, settings.retention_days, settings.node_id)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_wall() -> float:
    return time.time()


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _attempt(r: Any) -> AttemptStart:
    return AttemptStart(r["id"], r["campaign_id"], r["borrower_id"], r["phone"], r["trunk"], r["reason"],
                        r["started_at"], r["direction"])


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row["id"], name=row["name"], state=row["state"], strategy=row["strategy"], timezone=row["timezone"],
        trunk=row["trunk"], caller_id=row["caller_id"], max_concurrent_calls=row["max_concurrent_calls"],
        calls_per_second=row["calls_per_second"], created_at=row["created_at"], start_at=row["start_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
    )


def _borrower(row: Any) -> BorrowerState:
    return BorrowerState(
        campaign_id=row["campaign_id"], borrower_id=row["borrower_id"], data=json.loads(row["data"]),
        timezone=row["timezone"], segment=row["segment"], strategy=row["strategy"], script_set=row["script_set"],
        priority=row["priority"], status=row["status"], stop_reason=row["stop_reason"],
        next_due_at=row["next_due_at"], next_reason=row["next_reason"],
        trunk_error_streak=row["trunk_error_streak"], attempts_total=row["attempts_total"],
    )

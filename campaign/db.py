"""The SQL engines under the campaign store: one small adapter per engine, one SQL text for both.

Why an adapter and not a second store: every query of `campaign.store` and of the modules that own
tables of their own (ledger, allocations, legal steps, evidence) is written once, in the subset of
SQL that SQLite and PostgreSQL both accept (`ON CONFLICT`, `RETURNING`, `IS NOT DISTINCT FROM`,
`CASE` instead of two-argument `MAX`). What still differs is kept here, each in one place:

- placeholders: queries use qmark `?`; psycopg wants `%s` (and a literal `%` doubled);
- rows: both engines hand out rows that allow `r[0]` and `r["col"]` and `dict(r)` (sqlite3.Row, `PgRow`);
- DDL: `INTEGER PRIMARY KEY AUTOINCREMENT` is an identity column, `REAL` a DOUBLE PRECISION (PostgreSQL's
  REAL is 4 bytes: a Unix time in it would lose its seconds);
- locks: claiming a borrower to dial (`lock_claim`) is `BEGIN IMMEDIATE` on SQLite (one writer per file)
  and `SELECT ... FOR UPDATE SKIP LOCKED` plus per-borrower and per-number advisory locks on PostgreSQL.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from config.campaign_config import postgres_url_problem

SQLITE = "sqlite"
POSTGRES = "postgres"


class StoreUrlError(ValueError):
    """A store address that names no engine we run, or that is malformed; the message says which and why."""


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What store code needs of a connection: sqlite3.Connection has it, `PgConnection` adapts psycopg to it."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any: ...


class Database(Protocol):
    dialect: str

    @property
    def connection(self) -> Connection: ...
    def transaction(self) -> AbstractContextManager[Connection]: ...
    def lock_claim(self, db: Connection, campaign_id: str, borrower_id: str, phone: str,
                   due_by: float | None, active: str) -> bool: ...
    def migration_lock(self) -> AbstractContextManager[None]: ...
    def ddl(self, statement: str) -> str: ...
    def reader(self) -> AbstractContextManager[Connection]: ...
    def after_copy(self, db: Connection, table: str) -> None: ...
    def refresh_statistics(self, tables: Sequence[str]) -> None: ...
    def close(self) -> None: ...


# -- SQLite ------------------------------------------------------------------------------------------
class SqliteDatabase:
    """SQLite in WAL mode with synchronous=FULL: a committed attempt survives kill -9 and power loss."""

    dialect = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock is taken at the start, so what is read inside stays true to the end."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def lock_claim(self, db: Connection, campaign_id: str, borrower_id: str, phone: str,
                   due_by: float | None, active: str) -> bool:
        """Inside `transaction` SQLite already has the only write lock: just check the borrower is still ours."""
        return _claimable(db, campaign_id, borrower_id, due_by, active, "")

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        yield  # every migration runs in BEGIN IMMEDIATE: a second process waits for it

    def ddl(self, statement: str) -> str:
        return statement

    def after_copy(self, db: Connection, table: str) -> None:
        """AUTOINCREMENT continues after the largest id by itself."""

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """SQLite's planner needs no statistics for these queries."""

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own, for a worker thread (WAL readers never block the writer)."""
        if str(self.path) == ":memory:":
            raise StoreUrlError("an in-memory SQLite store has no second connection to read from")
        db = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, check_same_thread=False)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def close(self) -> None:
        self._db.close()


def _claimable(db: Connection, campaign_id: str, borrower_id: str, due_by: float | None, active: str,
               lock: str) -> bool:
    """The borrower is active, (when `due_by` is given) due by then, and has no pending attempt here."""
    due = " AND next_due_at IS NOT NULL AND next_due_at <= ?" if due_by is not None else ""
    args: list[Any] = [campaign_id, borrower_id, active, *([due_by] if due_by is not None else [])]
    row = db.execute(f"SELECT 1 FROM borrowers WHERE campaign_id = ? AND borrower_id = ? AND status = ?{due}{lock}",
                     args).fetchone()
    if row is None:
        return False
    busy = db.execute("SELECT 1 FROM attempts WHERE campaign_id = ? AND borrower_id = ? AND state = 'pending'"
                      " LIMIT 1", (campaign_id, borrower_id)).fetchone()
    return busy is None


# -- PostgreSQL --------------------------------------------------------------------------------------
class PgRow:
    """A row like sqlite3.Row: by position, by column name, `keys()` and so `dict(row)`."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = tuple(values)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._index[key]]
            except KeyError:
                raise IndexError(f"no such column: {key}") from None
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PgRow) and self._values == other._values and self._index == other._index

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def _pg_rows(cursor: Any) -> Any:
    """psycopg row factory: one name -> position map per result, shared by its rows."""
    description = cursor.description or ()
    index = {col.name: i for i, col in enumerate(description)}
    return lambda values: PgRow(index, values)


@lru_cache(maxsize=4096)
def qmark_to_format(sql: str) -> str:
    """`?` -> `%s` outside quoted literals and identifiers; every `%` doubled (psycopg reads them all)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
            continue
        if quote is not None:
            if ch == quote:
                quote = None  # a doubled quote ('it''s') closes and reopens: same result
            out.append(ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class PgConnection:
    """psycopg's connection seen as the store code sees sqlite3's: qmark SQL, rows by name or position."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.raw.execute(qmark_to_format(sql), tuple(parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> None:
        """Sent pipelined by psycopg: one network round trip for the batch, not one per row."""
        with self.raw.cursor() as cursor:
            cursor.executemany(qmark_to_format(sql), [tuple(p) for p in seq_of_parameters])


_PG_DDL = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)
_MIGRATION_LOCK = 0x766F6963  # pg_advisory_lock key held while one node migrates
ADVISORY_PREFIX = "voicebot:"


class PostgresDatabase:
    """One psycopg 3 connection in autocommit mode; `transaction()` is BEGIN .. COMMIT (READ COMMITTED)."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = url
        self._conn = _pg_connect(url)
        self._db = PgConnection(self._conn)

    @property
    def connection(self) -> PgConnection:
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        with self._conn.transaction():
            yield self._db

    def lock_claim(self, db: Connection, campaign_id: str, borrower_id: str, phone: str,
                   due_by: float | None, active: str) -> bool:
        """Lock the borrower row (another node holding it: not ours, skip it), then the borrower and number.

        The advisory locks serialise every claim that counts the same borrower (C3, across campaigns)
        or the same number (C2) until commit, so the counts read after them include every attempt a
        rival node has committed; they are taken in one order (borrower, then number), never a cycle.
        """
        if not _claimable(db, campaign_id, borrower_id, due_by, active, " FOR UPDATE SKIP LOCKED"):
            return False
        for key in (f"{ADVISORY_PREFIX}borrower:{borrower_id}", f"{ADVISORY_PREFIX}phone:{phone}"):
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,)).fetchone()
        # A rival that claimed and committed while we waited: its pending attempt is visible now.
        return _claimable(db, campaign_id, borrower_id, due_by, active, "")

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Two nodes starting at once: the second waits, then finds the schema current."""
        self._conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            yield
        finally:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    def after_copy(self, db: Connection, table: str) -> None:
        """Rows copied with their ids: move the identity past them, or the next insert collides."""
        db.execute(f"SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1,"
                   " false)", (table,)).fetchone()

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """ANALYZE after a bulk write: planned with the empty-table statistics autovacuum has not yet replaced,
        the progress query joined every active borrower per attempt (about 1 s with 10,000 borrowers)."""
        self._conn.execute(f"ANALYZE {', '.join(tables)}")

    def ddl(self, statement: str) -> str:
        for pattern, replacement in _PG_DDL:
            statement = pattern.sub(replacement, statement)
        return statement

    @contextmanager
    def reader(self) -> Iterator[PgConnection]:
        """A connection of its own for a worker thread, read-only."""
        conn = _pg_connect(self.url)
        try:
            conn.execute("SET default_transaction_read_only = on")
            yield PgConnection(conn)
        finally:
            conn.close()

    def close(self) -> None:
        self._conn.close()


def _pg_connect(url: str) -> Any:
    import psycopg
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        """numeric (SUM of integers) as int when whole, else float: what sqlite3 hands out, never Decimal."""

        def load(self, data: Any) -> int | float:
            text = bytes(data).decode("ascii")
            return float(text) if any(c in text for c in ".eEN") else int(text)

    try:
        conn = psycopg.connect(url, autocommit=True, row_factory=_pg_rows, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StoreUrlError(f"cannot connect to PostgreSQL at {redact_url(url)}: {exc}".strip()) from None
    conn.adapters.register_loader("numeric", NumberLoader)
    return conn


# -- addresses ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreAddress:
    dialect: str
    target: str  # a file path (SQLite) or a libpq URL (PostgreSQL)


def check_url(url: str) -> None:
    """A PostgreSQL URL we can hand to libpq (the rule `[store] url` is checked by at load time)."""
    problem = postgres_url_problem(url)
    if problem is not None:
        raise StoreUrlError(f"{redact_url(url)}: expected {problem}")


def parse_address(text: str) -> StoreAddress:
    """`sqlite:PATH` or a `postgresql://` URL (the `store migrate` command line)."""
    if text.startswith("sqlite:"):
        path = text[len("sqlite:"):]
        if not path:
            raise StoreUrlError("sqlite: needs a file path (sqlite:var/campaigns.sqlite3)")
        return StoreAddress(SQLITE, path)
    check_url(text)
    return StoreAddress(POSTGRES, text)


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


"""Copy a whole store to another engine (`server.py store migrate`), verified table by table.

Why verified by content and not only by counts: a value that one engine stores differently (a text
in a number column, a float that lost digits) would pass a row count. Each table's digest is the
SHA-256 of its rows written canonically (numbers as floats, in a sorted order), so the same rows
give the same digest on SQLite and PostgreSQL whatever order or types the engine hands back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from campaign.store import SqlStore

# Every table of the schema, parents before the tables that refer to them (PostgreSQL checks the keys).
TABLES = (
    "campaigns", "borrowers", "contacts", "attempts", "calls", "turns", "outcomes", "opt_outs", "refusals",
    "audit_log", "borrower_facts", "promises", "promise_history", "payments", "allocations", "allocation_moves",
    "legal_steps", "nodes",
)
# Tables whose `id` is generated (AUTOINCREMENT / identity): copied ids move the target's counter past them.
GENERATED_IDS = ("refusals", "audit_log", "borrower_facts", "promise_history", "allocation_moves", "legal_steps")


class StoreCopyError(Exception):
    """The copy was refused (target not empty, schemas differ) before anything was written."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sha256 == self.target_sha256


def _canonical(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def table_digest(store: SqlStore, table: str) -> tuple[int, str]:
    """(rows, SHA-256 of the rows as sorted canonical JSON lines, columns by name)."""
    lines = sorted(
        json.dumps({k: _canonical(r[k]) for k in sorted(r.keys())}, ensure_ascii=False, sort_keys=True)
        for r in store.connection.execute(f"SELECT * FROM {table}")
    )
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return len(lines), digest


def _check_schema(store: SqlStore, side: str) -> None:
    missing = [t for t in TABLES if not _has_table(store, t)]
    if missing:
        raise StoreCopyError(f"{side} store lacks table(s) {', '.join(missing)} (schema {store.schema_version})")


def _has_table(store: SqlStore, table: str) -> bool:
    try:
        store.connection.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
    except Exception:
        return False
    return True


def copy_store(source: SqlStore, target: SqlStore) -> list[TableCopy]:
    """Copy every table of `source` into the empty `target` in one transaction, then compare each table.

    Refused (nothing written) when the schemas differ or the target holds any row: a copy never merges.
    """
    if source.schema_version != target.schema_version:
        raise StoreCopyError(f"source schema {source.schema_version} differs from target schema "
                             f"{target.schema_version}: run both on this build first")
    _check_schema(source, "source")
    _check_schema(target, "target")
    filled = [t for t in TABLES if target.connection.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]]
    if filled:
        raise StoreCopyError(f"target store is not empty (rows in {', '.join(filled)}); copy into a new database")
    with target.transaction() as db:
        for table in TABLES:
            rows = source.connection.execute(f"SELECT * FROM {table}").fetchall()
            if not rows:
                continue
            columns = list(rows[0].keys())
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})")
            for row in rows:
                db.execute(sql, tuple(row[c] for c in columns))
            if table in GENERATED_IDS:
                target.database.after_copy(db, table)
    target.database.refresh_statistics(TABLES)
    result = []
    for table in TABLES:
        n_source, h_source = table_digest(source, table)
        n_target, h_target = table_digest(target, table)
        result.append(TableCopy(table, n_source, n_target, h_source, h_target))
    return result

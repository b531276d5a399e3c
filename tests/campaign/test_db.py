"""campaign.db: the qmark translation, rows by name and position, and clear errors for a bad address."""

from __future__ import annotations

from pathlib import Path

import pytest
from pg_cluster import PgCluster

from campaign.db import PostgresDatabase, StoreUrlError, parse_address, qmark_to_format, redact_url
from campaign.store import PostgresStore


def test_placeholders_outside_literals_become_format_markers_and_percent_is_doubled() -> None:
    """`?` inside a quoted literal or identifier stays; every `%` is doubled for psycopg."""
    assert qmark_to_format("SELECT ? FROM t WHERE a = '?' AND \"q?\" = ? AND b LIKE '5%'") == (
        "SELECT %s FROM t WHERE a = '?' AND \"q?\" = %s AND b LIKE '5%%'")
    assert qmark_to_format("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_rows_read_by_name_position_and_as_dict_and_literals_survive(pg_url: str) -> None:
    """A PostgreSQL row behaves like sqlite3.Row; a literal '?' and '%' come back as written."""
    store = PostgresStore(pg_url)
    try:
        row = store.connection.execute("SELECT ? AS n, '?%' AS lit, 2.5 AS x, SUM(1) AS s", (7,)).fetchone()
        assert (row[0], row["lit"], row["x"], row["s"]) == (7, "?%", 2.5, 1)
        assert dict(row) == {"n": 7, "lit": "?%", "x": 2.5, "s": 1}
        with pytest.raises(IndexError, match="no such column"):
            row["missing"]
    finally:
        store.close()


def test_an_unreachable_server_or_a_bad_address_is_a_clear_error(tmp_path: Path) -> None:
    """No server at the socket: the error names the redacted URL; a non-PostgreSQL URL names the scheme."""
    url = f"postgresql://u:secret@/db?host={tmp_path}&port=1"
    with pytest.raises(StoreUrlError, match="cannot connect") as info:
        PostgresDatabase(url)
    assert "secret" not in str(info.value) and redact_url(url) in str(info.value)
    with pytest.raises(StoreUrlError, match="postgresql://"):
        parse_address("mysql://h/db")
    with pytest.raises(StoreUrlError, match="file path"):
        parse_address("sqlite:")


def test_two_nodes_starting_at_once_on_an_empty_database_migrate_it_once(pg_cluster: PgCluster) -> None:
    """The migration lock: both stores open at the latest version and each version is recorded once."""
    import threading

    from campaign.migrations import MIGRATIONS

    url = pg_cluster.new_database(empty=True)
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(PostgresStore(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors, errors
        assert [s.schema_version for s in stores] == [MIGRATIONS[-1].version] * 2
        versions = [r[0] for r in stores[0].connection.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [m.version for m in MIGRATIONS]
    finally:
        for s in stores:
            s.close()

"""`server.py store migrate`: a used SQLite store copied into PostgreSQL, verified per table; refusals."""

from __future__ import annotations

import io
from pathlib import Path

from campaign_fakes import borrower_row, run_for
from campaign_stack import StackFactory
from pg_cluster import PgCluster

from campaign.store import PostgresStore
from campaign.store_copy import TABLES
from cli.store import run
from server import build_parser


def _migrate(source: str, target: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(build_parser().parse_args(["store", "migrate", "--from", source, "--to", target]), out, err)
    return code, out.getvalue(), err.getvalue()


def _used_store(stack_factory: StackFactory) -> Path:
    s = stack_factory()
    s.runner.outcome = lambda b: ({"disposition": "promise_to_pay", "ptp_date": "2026-12-05", "ptp_amount": 500.0}
                                  if b.id == "B001" else {"disposition": "opt_out", "opt_out": True})
    c = s.service.create_campaign("copied")
    s.service.import_records(c.id, [borrower_row(i) for i in range(1, 4)])
    s.scheduler.start()
    s.service.start(c.id)
    run_for(s.clock, 120)
    assert s.store.list_calls(c.id) and s.store.audit_log()
    s.scheduler.stop()
    assert s.store.path is not None
    return s.store.path


def test_a_used_sqlite_store_is_copied_and_verified_table_by_table(
    stack_factory: StackFactory, pg_cluster: PgCluster,
) -> None:
    """Every table arrives with the same row count and content hash; the target then works as a store
    (reads match, and a new audit row gets a fresh id after the copied ones)."""
    path = _used_store(stack_factory)
    url = pg_cluster.new_database()
    code, out, err = _migrate(f"sqlite:{path}", url)
    assert (code, err) == (0, ""), out + err
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert set(lines) == set(TABLES)
    assert all(row[-1] == "ok" and row[1] == row[2] and row[3] == row[4] for row in lines.values())
    assert int(lines["calls"][1]) == 3 and int(lines["promises"][1]) == 1 and int(lines["opt_outs"][1]) == 2
    target = PostgresStore(url)
    try:
        (campaign,) = target.list_campaigns()
        assert len(target.list_calls(campaign.id)) == 3 and target.is_opted_out("+8613800130002")
        before = [a["id"] for a in target.audit_log()]
        target.audit("op", "after_copy", None, {}, 1.0)
        assert target.audit_log()[-1]["id"] > max(before)
    finally:
        target.close()


def test_a_non_empty_target_or_a_bad_address_is_refused_and_nothing_is_written(
    stack_factory: StackFactory, pg_cluster: PgCluster, tmp_path: Path,
) -> None:
    """Copying twice into one database is refused (no merge); a bad URL or a missing file is refused."""
    path = _used_store(stack_factory)
    url = pg_cluster.new_database()
    assert _migrate(f"sqlite:{path}", url)[0] == 0
    target = PostgresStore(url)
    calls = target.connection.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    code, _out, err = _migrate(f"sqlite:{path}", url)
    assert code == 2 and "not empty" in err
    assert target.connection.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == calls
    target.close()
    code, _out, err = _migrate(f"sqlite:{path}", "mysql://u:secret@h/db")
    assert code == 2 and "postgresql://" in err and "secret" not in err
    code, _out, err = _migrate(f"sqlite:{tmp_path / 'none.db'}", url)
    assert code == 2 and "no store" in err

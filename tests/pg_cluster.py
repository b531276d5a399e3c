"""A throwaway PostgreSQL cluster for the tests: Debian's initdb/pg_ctl, run as an unprivileged user.

One cluster per session (initdb takes a second or two), one database per test made from a template
that already holds every migration (CREATE DATABASE ... TEMPLATE copies files: milliseconds). The
cluster listens only on a unix socket in its own temporary folder, on a free port number, with
`trust` authentication: nothing outside the test run can reach it. If it cannot start, the tests that
need it fail with the reason - they never skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("VOICEBOT_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "voicebot-pg"  # the unprivileged account the server runs as when the tests run as root
TEMPLATE = "voicebot_template"


class PgClusterError(RuntimeError):
    """The throwaway cluster could not be created or started; the message says which step and why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> list[str]:
    """The command prefix that runs a server binary as a non-root user (postgres refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)
    return ["runuser", "-u", PG_USER, "--"]


class PgCluster:
    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / tool).is_file():
                raise PgClusterError(f"{PG_BIN / tool} not found: install the Debian package `postgresql`"
                                     " (make sysdeps does)")
        self.root = Path(tempfile.mkdtemp(prefix="voicebot-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.prefix = _as_user()
        if self.prefix:
            shutil.chown(self.root, PG_USER)
        self.user = PG_USER if self.prefix else pwd.getpwuid(os.geteuid()).pw_name
        self._names = itertools.count(1)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                   "--no-sync", "--locale=C.UTF-8"], "initdb")
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.root}' -c port={self.port}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                   "-w", "-t", "30", "start"], "pg_ctl start")

    def _run(self, command: list[str], step: str) -> None:
        done = subprocess.run([*self.prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PgClusterError(f"{step} failed ({done.returncode}): {done.stderr.strip()[-2000:]} {tail}")

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@/{database}?host={self.root}&port={self.port}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def prepare_template(self) -> None:
        """A database holding every migration, the template of each test's database."""
        from campaign.store import PostgresStore

        self.admin(f"CREATE DATABASE {TEMPLATE}")
        PostgresStore(self.url(TEMPLATE)).close()

    def new_database(self, *, empty: bool = False) -> str:
        """A fresh database (migrated, unless `empty`); returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], "pg_ctl stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The session's PostgreSQL cluster; a failure to start fails every test that uses it, with the reason."""
    try:
        cluster = PgCluster()
    except (PgClusterError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"PostgreSQL test cluster did not start: {exc}")
    try:
        cluster.prepare_template()
    except Exception as exc:
        cluster.stop()
        pytest.fail(f"PostgreSQL test cluster: migrating the template database failed: {exc!r}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, migrated database of the session cluster for this test."""
    return pg_cluster.new_database()

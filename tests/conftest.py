"""Shared pytest set-up: the repository root on sys.path, so tests import packages as the server does."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from pg_cluster import pg_cluster, pg_url  # noqa: E402  (PostgreSQL for the store suite, session-wide)
from shared_runs import demo_run  # noqa: E402  (a session fixture, registered here for every test folder)

__all__ = ["demo_run", "pg_cluster", "pg_url"]

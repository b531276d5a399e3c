"""Expensive end-to-end runs that several test folders read, made once per session."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DemoRun:
    """One finished `server.py demo --limit 3` (the process result and its --out folder)."""

    done: subprocess.CompletedProcess[str]
    out: Path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo runs once per session (about a minute); its end-to-end test and the promise-kept test read it."""
    out = tmp_path_factory.mktemp("demo-run")
    done = subprocess.run(
        [sys.executable, "server.py", "demo", "--limit", "3", "--out", str(out), "--timeout", "100"],
        cwd=ROOT, capture_output=True, timeout=150, check=False, text=True,
    )
    return DemoRun(done, out)

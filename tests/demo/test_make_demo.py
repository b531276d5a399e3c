"""`make demo KEEP=1` keeps the dashboard up: the Makefile passes --keep-serving, which the demo accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from server import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _demo_command(*make_args: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), "demo", *make_args], capture_output=True, text=True,
                         check=True, timeout=30)
    line = next(ln for ln in reversed(dry.stdout.splitlines()) if "server.py demo" in ln)
    words = shlex.split(line)
    return words[words.index("server.py") + 1:]


def test_make_demo_keep_passes_keep_serving() -> None:
    """With KEEP=1 the demo command carries --keep-serving and parses; without it, it does not."""
    kept = _demo_command("KEEP=1")
    assert "--keep-serving" in kept
    assert build_parser().parse_args(kept).keep_serving is True
    plain = _demo_command()
    assert build_parser().parse_args(plain).keep_serving is False

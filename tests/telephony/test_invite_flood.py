"""An INVITE flood from outside the trunks (sipp, 200/s) while outbound calls talk: no abort, calls unaffected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timing]


def test_invite_flood_is_refused_without_disturbing_calls_in_progress() -> None:
    """400 INVITEs in 2 s all get 403, the endpoint survives (it used to abort on pjlib's handle limit),
    and the two calls in progress keep receiving every frame, with lateness bounded."""
    child = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "invite_flood.py"), "--child", "--rate", "200", "--seconds", "2",
         "--calls", "2"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads([line for line in child.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    assert result["failed"] == []
    assert result["invites_answered_403"] == 400 and result["invites_failed"] == 0
    during = result["during"]
    assert during["frames"] >= 0.98 * during["expected"]
    assert during["late"] <= 0.05 * during["expected"]  # one log line per refusal made 17% late; now 0
    assert during["lateness_max_ms"] < 500  # loose for a loaded 2-core machine; a 10 s run here: worst 23 ms

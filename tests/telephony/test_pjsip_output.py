"""pjsip's own output never reaches stdout: it goes through our (masked) logging or, before that exists, stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reactor_wait import reactor, run_until
from sip_config import make_config
from sip_peers import free_udp_port

from telephony.endpoint import SipEndpoint

ROOT = Path(__file__).resolve().parents[2]
PJSIP_LINE = re.compile(r"\.c\s|pjlib|pjsua|PJSUA|sip_endpoint|Module \"")
RECORD_LINE = re.compile(
    r"^(disposition|invite sent|ringing|answered|ended|duration|dtmf|recording)\s{2,}\S"
)


def test_start_and_stop_write_nothing_to_stdout(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Creating and destroying the pjsua2 library in-process leaves file descriptor 1 untouched."""
    capfd.readouterr()
    ep = SipEndpoint(make_config(tmp_path), reactor)
    run_until(ep.start())
    assert ep.max_calls >= 1
    run_until(ep.stop())
    out, _err = capfd.readouterr()
    assert out == ""


def test_call_json_stdout_holds_only_the_record(tmp_path: Path) -> None:
    """`server.py call --json`: stdout is the record lines and one JSON line; pjlib's start-up lines went to stderr."""
    config = tmp_path / "server.toml"
    config.write_text(
        f"[sip]\nport = 0\n[calls]\nring_timeout_s = 1\n[media]\nrtp_port_start = {free_udp_port(pairs=2)}\n"
    )
    silent = free_udp_port()  # nobody answers there: the call ends unanswered within the ring timeout
    result = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "call", f"sip:nobody@127.0.0.1:{silent}", "--json",
         "--config", str(config), "--record-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    record = json.loads(lines[-1])
    assert record["disposition"] in ("no_answer", "trunk_error")
    assert all(RECORD_LINE.match(line) for line in lines[:-1]), lines
    assert not [line for line in lines if PJSIP_LINE.search(line)]
    assert "pjlib" in result.stderr  # kept for the operator, on the stream meant for diagnostics

"""pjsip's own output never reaches stdout: its lines, start-up ones included, go through our masked logging."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sip_peers import free_udp_port

ROOT = Path(__file__).resolve().parents[2]
PJSIP_LINE = re.compile(r"\.c\s|pjlib|pjsua|PJSUA|sip_endpoint|Module \"")
RECORD_LINE = re.compile(
    r"^(disposition|invite sent|ringing|answered|ended|duration|dtmf|recording)\s{2,}\S"
)


START_STOP = """
import sys
from pathlib import Path
from twisted.internet import reactor
sys.path.insert(0, sys.argv[2])
from reactor_wait import run_until
from sip_config import make_config
from telemetry.logging import configure_logging
from telephony.endpoint import SipEndpoint
configure_logging("INFO", "json")
ep = SipEndpoint(make_config(Path(sys.argv[1])), reactor)
run_until(ep.start())
run_until(ep.stop())
"""


def test_start_and_stop_write_nothing_to_stdout(tmp_path: Path) -> None:
    """In a fresh process pjlib prints its banner before libInit: it arrives as a JSON log line, fd 1 stays empty."""
    result = subprocess.run(
        [sys.executable, "-c", START_STOP, str(tmp_path), str(Path(__file__).parent)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    pjsip = [e["event"] for e in events if e["logger"] == "telephony.pjsip"]
    assert any("pjlib" in m and "initialized" in m for m in pjsip), result.stderr[-2000:]


def test_call_json_stdout_holds_only_the_record(tmp_path: Path) -> None:
    """`server.py call --json`: stdout is the record lines and one JSON line, nothing from pjsip."""
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

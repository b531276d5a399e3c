"""The SIP torture corpus (tests/fixtures/sip/torture/): rendering the templates and sending them.

Fixture files are written with LF line ends and placeholders; `render` turns them into wire bytes
(CRLF, this run's ports, fresh branch/tag/Call-ID, `$CL` = the body's byte length) so each file
reads like the RFC 4475 message it imitates. `send` delivers one message over UDP or TCP from
127.0.0.1 and collects the status codes that come back within the wait.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "sip" / "torture"
HARNESS = Path(__file__).resolve().parent / "sip_endpoint_process.py"
LONG = "x" * 2000  # long but inside pjsip's 4000-byte packet limit
HUGE = "y" * 6000  # past it: an overlong value
STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ", re.M)


@dataclass(frozen=True)
class Case:
    file: str
    kind: str  # valid | invalid
    rfc: str
    tests: str
    expect: tuple[str, ...]  # acceptable outcomes: status codes ("400") or "drop"
    udp: tuple[str, ...] | None  # transport-specific expectation, when it differs
    tcp: tuple[str, ...] | None
    pjsip: str  # what pjsip does, where it differs from the plain RFC reading
    kamailio: tuple[str, ...] = ()  # deploy/kamailio's answer over UDP from an outside address
    kamailio_note: str = ""

    def expected(self, transport: str) -> tuple[str, ...]:
        special = self.udp if transport == "udp" else self.tcp
        return special or self.expect


def load_index() -> list[Case]:
    data = tomllib.loads((CORPUS / "index.toml").read_text(encoding="utf-8"))
    cases = []
    for entry in data["message"]:
        cases.append(Case(
            file=entry["file"], kind=entry["kind"], rfc=entry["rfc"], tests=entry["tests"],
            expect=tuple(entry["expect"]), udp=tuple(entry["udp"]) if "udp" in entry else None,
            tcp=tuple(entry["tcp"]) if "tcp" in entry else None, pjsip=entry.get("pjsip", ""),
            kamailio=tuple(entry.get("kamailio", ())), kamailio_note=entry.get("kamailio_note", ""),
        ))
    return cases


def render(file: str, port: int, transport: str, src_port: int) -> bytes:
    raw = (CORPUS / file).read_bytes()
    if b"$PORT" not in raw and b"$SRCPORT" not in raw:  # not a SIP template (binary garbage): sent as it is
        return raw
    text = raw.decode("utf-8").replace("\r\n", "\n")
    token = uuid.uuid4().hex[:12]
    text = (text.replace("$PORT", str(port)).replace("$SRCPORT", str(src_port))
            .replace("$TRANSPORT", transport.upper()).replace("$BRANCH", token).replace("$TAG", "t" + token)
            .replace("$CALLID", f"torture-{token}@127.0.0.1").replace("$LONG", LONG).replace("$HUGE", HUGE))
    wire = text.replace("\n", "\r\n").encode("utf-8")
    head, sep, body = wire.partition(b"\r\n\r\n")
    return head.replace(b"$CL", str(len(body)).encode()) + sep + body


def send(file: str, port: int, transport: str, wait_s: float = 1.0, until: str | None = None,
         host: str = "127.0.0.1", source: str = "127.0.0.1") -> list[str]:
    """Send one corpus message from `source` to `host`; return the status codes received within `wait_s`.

    `until`: stop as soon as this status arrives (the liveness probe needs only its 200; every message
    under test waits the whole `wait_s`, since what it must show is that nothing else comes).
    """
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((source, 0))
        src_port = sock.getsockname()[1]
        message = render(file, port, transport, src_port)
        sock.settimeout(0.2)
        if transport == "udp":
            sock.sendto(message, (host, port))
        else:
            sock.connect((host, port))
            sock.sendall(message)
        received = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk and transport == "tcp":
                break  # the server closed the connection
            received += chunk
            if until is not None and until.encode() in STATUS.findall(received):
                break
        return [code.decode() for code in STATUS.findall(received)]


class EndpointProcess:
    """`sip_endpoint_process.py` started and stopped by this object (SIGTERM to its own pid)."""

    def __init__(self, transport: str, log_path: Path) -> None:
        self.transport = transport
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, str(HARNESS), "--transport", transport, "--log", str(log_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"endpoint process did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        import json

        ready = json.loads(line)
        self.port = int(ready["port"])
        self.max_calls = int(ready["max_calls"])

    def slots(self) -> dict[str, int]:
        import json

        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("slots\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def free_slots_settled(self, timeout_s: float = 3.0) -> dict[str, int]:
        """Slots right after a refused INVITE may still be held for the final response's ACK wait."""
        deadline = time.monotonic() + timeout_s
        state = self.slots()
        while state["free_call_slots"] != self.max_calls and time.monotonic() < deadline:
            time.sleep(0.1)
            state = self.slots()
        return state

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


PHONE_NUMBERS = ("13800138000", "13912345678", "13700137000", "8613800138000")  # as written in the corpus


def outcome(codes: list[str]) -> tuple[str, ...]:
    """Final responses received (provisional 1xx ignored, retransmissions folded), or ("drop",)."""
    finals = sorted({c for c in codes if not c.startswith("1")})
    return tuple(finals) or ("drop",)


def markdown_table(cases: list[Case]) -> str:
    """The torture part of docs/robustness.md, generated from index.toml (a test keeps them equal)."""
    lines = ["| message | kind | tests | RFC asks | UDP | TCP | pjsip / note |", "|---|---|---|---|---|---|---|"]
    for c in cases:
        lines.append(f"| `{c.file}` | {c.kind} | {c.tests} | {c.rfc} | {', '.join(c.expected('udp'))} | "
                     f"{', '.join(c.expected('tcp'))} | {c.pjsip or '-'} |")
    return "\n".join(lines)


def kamailio_table(cases: list[Case]) -> str:
    """The Kamailio edge's torture table in docs/robustness.md, generated from index.toml."""
    lines = ["| message | kind | RFC asks | Kamailio edge (UDP, from outside) | note |", "|---|---|---|---|---|"]
    for c in cases:
        lines.append(f"| `{c.file}` | {c.kind} | {c.rfc} | {', '.join(c.kamailio)} | {c.kamailio_note or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(load_index()))
    print()
    print(kamailio_table(load_index()))

"""Simulated borrowers as one sipp UAS: many calls in one process, speaking recorded lines on a schedule.

A `sim.phone` process carries 4 calls (the pjsua2 wheel's call slots) and needs a trunk of its own;
one sipp process answers any number of calls on one address, so one trunk can carry them all. Each
call: 200 OK (PCMA), then for every line, after its wait, a SIP INFO `application/x-sim-transcript`
with the words (what the bot's `sim` recognizer reads, as from the sim phone), then the line's audio
(espeak-ng, G.711 in a pcap) by `play_pcap_audio`. sipp cannot hear the bot, so turn-taking is a
fixed schedule (`waits_s`: seconds of silence before each line, measured against the bot's prompts)
rather than the sim phone's; the bot's audio is received and ignored. A BYE from the bot at any point
is answered (a "global" optional receive); after the last line and `tail_s` the borrower hangs up.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

from asr.sim_recognizer import CONTENT_TYPE as TRANSCRIPT_CONTENT_TYPE
from sim.pcap import rtp_pcap
from sim.process import stop_process_group
from sim.voice import Voice

RATE = 8000


class SippBorrowersError(RuntimeError):
    """sipp is missing, refused the scenario or did not start; the message quotes its output."""


@dataclass(frozen=True)
class SpokenLine:
    text: str
    pcap: str  # file name in sipp's working directory
    duration_s: float


_ANSWER = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="sim_borrower">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="peer_contact"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="peer_from"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="own_to"/>
    </action>
  </recv>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

v=0
o=borrower 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 120
a=rtpmap:8 PCMA/8000
a=rtpmap:120 telephone-event/8000
a=fmtp:120 0-16
a=ptime:20
    ]]>
  </send>
  <!-- "global": matches the bot's BYE at any later point of the call, not only before the ACK. -->
  <recv request="BYE" optional="global" next="bye"/>
  <recv request="ACK" crlf="true"/>
"""

_LINE = """  <pause milliseconds="{wait_ms}"/>
  <send retrans="500">
    <![CDATA[
      INFO [$peer_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$own_to];tag=[pid]SIPpTag01[call_number]
      To: [$peer_from]
      [last_Call-ID:]
      CSeq: {cseq} INFO
      Max-Forwards: 70
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: {content_type}
      Content-Length: [len]

{text}
    ]]>
  </send>
  <recv response="200"/>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{duration_ms}"/>
"""

_HANG_UP = """  <pause milliseconds="{tail_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [$peer_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$own_to];tag=[pid]SIPpTag01[call_number]
      To: [$peer_from]
      [last_Call-ID:]
      CSeq: {cseq} BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" next="end"/>
  <label id="bye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
  <timewait milliseconds="500"/>
</scenario>
"""


def borrower_scenario(lines: Sequence[SpokenLine], waits_s: Sequence[float], tail_s: float) -> str:
    """The sipp UAS scenario: answer, then per line wait, INFO the words, play the pcap; then hang up."""
    if len(waits_s) != len(lines):
        raise ValueError(f"{len(lines)} lines need {len(lines)} waits, got {len(waits_s)}")
    if any(w < 0 for w in waits_s) or tail_s < 0:
        raise ValueError("waits must not be negative")
    for line in lines:
        if not line.text.strip() or "]]>" in line.text or "\n" in line.text:
            raise ValueError(f"line {line.text!r} cannot be sent as one INFO body")
    parts = [_ANSWER]
    for k, (line, wait) in enumerate(zip(lines, waits_s, strict=True)):
        parts.append(_LINE.format(wait_ms=round(wait * 1000), cseq=k + 1, content_type=TRANSCRIPT_CONTENT_TYPE,
                                  text=line.text, pcap=escape(line.pcap, {'"': "&quot;"}),
                                  duration_ms=round(line.duration_s * 1000)))
    parts.append(_HANG_UP.format(tail_ms=round(tail_s * 1000), cseq=len(lines) + 1))
    return "".join(parts)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1]) & ~1


def _bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class SippBorrowers:
    """One `sipp` UAS on 127.0.0.1 answering every call with the same spoken lines (context manager).

    `uri_for(user)` is a target on it; `pid` for its CPU figures. The lines are rendered by `voice`
    (espeak-ng) before sipp starts.
    """

    def __init__(
        self,
        voice: Voice,
        texts: Sequence[str],
        waits_s: Sequence[float],
        *,
        tail_s: float = 20.0,
        work_dir: Path | None = None,
        binary: str = "sipp",
        start_timeout_s: float = 10.0,
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise SippBorrowersError(f"{binary} not found: install the Debian package sip-tester (make sysdeps)")
        self.binary = found
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="sipp-borrowers-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for k, text in enumerate(texts):
            samples = voice.render(text, RATE)
            name = f"line{k}.pcap"
            (self.work_dir / name).write_bytes(rtp_pcap(samples, 8, RATE))
            lines.append(SpokenLine(text, name, len(samples) // 160 * 0.02))
        self.lines = tuple(lines)
        self.scenario = self.work_dir / "sim_borrower.xml"
        self.scenario.write_text(borrower_scenario(self.lines, waits_s, tail_s), encoding="utf-8")
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def uri_for(self, user: str) -> str:
        return f"sip:{user}@127.0.0.1:{self.port}"

    def start(self) -> int:
        """Start sipp and wait until it listens; returns its SIP port."""
        self.port = _free_udp_port()
        media_port = _free_udp_port()
        cmd = [self.binary, "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.port),
               "-mi", "127.0.0.1", "-mp", str(media_port), "-t", "u1", "-nostdin",
               "-trace_err", "-error_file", str(self.work_dir / "errors.log")]
        out = (self.work_dir / "sipp.log").open("wb")
        self._proc = subprocess.Popen(cmd, cwd=self.work_dir, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        out.close()
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SippBorrowersError(f"sipp exited with code {self._proc.returncode}: {self.output()}")
            if _bound(self.port):
                return self.port
            time.sleep(0.05)
        self.stop()
        raise SippBorrowersError(f"sipp did not listen on 127.0.0.1:{self.port} within {self.start_timeout_s} s")

    def output(self) -> str:
        parts = []
        for name in ("sipp.log", "errors.log"):
            path = self.work_dir / name
            if path.exists():
                parts.append(f"== {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> int | None:
        """SIGTERM (SIGKILL after 5 s) to sipp's own process group; returns its exit code."""
        proc, self._proc = self._proc, None
        return None if proc is None else stop_process_group(proc)

    def __enter__(self) -> SippBorrowers:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

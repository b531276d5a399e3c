"""Real SIP peers for the telephony tests: sipp scenarios and baresip, on free 127.0.0.1 ports.

Each peer is a context manager that starts the process, waits until it listens, and kills it (and
only it) on exit, so no test leaves a process behind.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sim.process import stop_process_group

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIPP_SCENARIOS = FIXTURES / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
BARESIP = shutil.which("baresip") or "/usr/bin/baresip"


def free_udp_port(pairs: int = 1, host: str = "127.0.0.1") -> int:
    """A free even UDP port on `host` with `2 * pairs` free ports from it (RTP/RTCP style)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            base = probe.getsockname()[1] & ~1
        if base + 2 * pairs >= 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + 2 * pairs):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range found")


class SippPeer:
    """A running sipp: `uri` is where to send the INVITE; `stop()` returns its exit code and output."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_dir: Path, host: str = "127.0.0.1") -> None:
        self.proc = proc
        self.port = port
        self.host = host
        self.log_dir = log_dir
        self.uri = f"sip:service@{host}:{port}"

    def uri_for(self, user: str) -> str:
        return f"sip:{user}@{self.host}:{self.port}"

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        parts = []
        for f in sorted(self.log_dir.glob("*")):
            with suppress(OSError):
                parts.append(f"== {f.name}\n" + f.read_text(errors="replace")[-4000:])
        return "\n".join(parts)


@contextmanager
def sipp(
    scenario: str | None,
    *extra: str,
    rtp_echo: bool = False,
    calls: int = 0,
    files: dict[str, bytes] | None = None,
    params: dict[str, str] | None = None,
    remote: str | None = None,
    host: str = "127.0.0.1",
    builtin: str = "uas",
) -> Iterator[SippPeer]:
    """Run sipp as a UAS with `scenario` (a file under fixtures/sipp, or None for the built-in one, `builtin`).

    `files` are written into sipp's working directory first (e.g. `audio.pcap` for play_pcap_audio);
    `params` fill `@name@` placeholders in the scenario (sipp checks status codes before `-key` applies);
    `remote` (host:port) makes sipp the caller; `host` is the loopback address it binds (signalling and media).
    """
    port = free_udp_port(host=host)
    media_port = free_udp_port(pairs=3, host=host)
    log_dir = Path(tempfile.mkdtemp(prefix="sipp-"))
    for name, data in (files or {}).items():
        (log_dir / name).write_bytes(data)
    args = [SIPP, "-i", host, "-p", str(port), "-mi", host, "-mp", str(media_port)]
    if scenario is None:
        args += ["-sn", builtin]
    else:
        text = (SIPP_SCENARIOS / scenario).read_text()
        for key, value in (params or {}).items():
            text = text.replace(f"@{key}@", value)
        (log_dir / scenario).write_text(text)
        args += ["-sf", str(log_dir / scenario)]
    if rtp_echo:
        args.append("-rtp_echo")
    if calls:
        args += ["-m", str(calls)]
    args.append("-nostdin")
    if remote is not None:  # sipp as the caller (UAC) towards `remote` (host:port)
        args.append(remote)
    args += ["-trace_err", "-error_file", str(log_dir / "errors.log"), *extra]
    proc = subprocess.Popen(
        args, cwd=log_dir, stdout=open(log_dir / "stdout.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )
    peer = SippPeer(proc, port, log_dir, host)
    try:
        try:
            _wait_udp_bound(port, proc, host=host)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{peer.output()}") from None
        yield peer
        # Our BYE/CANCEL may still be waiting for sipp's answer; killing sipp first would leave the
        # pjsua call slot held until pjsip's 32 s transaction timeout.
        from reactor_wait import spin

        spin(0.25)
    finally:
        stop_process_group(proc, wait=3)
        shutil.rmtree(log_dir, ignore_errors=True)


def _wait_udp_bound(port: int, proc: subprocess.Popen[bytes], timeout: float = 5.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited early with code {proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return  # someone (the peer) holds the port
        time.sleep(0.02)
    raise RuntimeError(f"peer did not bind UDP port {port}")


class BaresipPhone:
    """A running baresip that auto-answers, talks from `source` and dumps what it hears into `folder`."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, folder: Path) -> None:
        self.proc = proc
        self.port = port
        self.folder = folder
        self.uri = f"sip:phone@127.0.0.1:{port}"

    def heard(self) -> Path | None:
        """The WAV of decoded audio baresip received (its sndfile dump), once the call has run."""
        dumps = sorted(self.folder.glob("dump-*-dec.wav"))
        return dumps[-1] if dumps else None

    def log(self) -> str:
        return (self.folder / "baresip.log").read_text(errors="replace")


@contextmanager
def baresip(source_wav: Path) -> Iterator[BaresipPhone]:
    """baresip as a real answering phone: no sound card (aufile source), auto-answer, audio dumps.

    It hangs up by itself when `source_wav` ends (aufile reports end of file), like a borrower who
    says their piece and puts the phone down.
    """
    port = free_udp_port()
    folder = Path(tempfile.mkdtemp(prefix="baresip-"))
    (folder / "config").write_text(
        "poll_method poll\n"
        f"sip_listen 127.0.0.1:{port}\n"
        f"audio_source aufile,{source_wav}\n"
        f"audio_alert aufile,{source_wav}\n"
        "audio_srate 8000\naudio_channels 1\n"
        "module_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule aufile.so\nmodule sndfile.so\n"
        "module_app account.so\nmodule_app menu.so\n"
        f"snd_path {folder}\n"
    )
    (folder / "accounts").write_text("<sip:phone@127.0.0.1>;regint=0;answermode=auto\n")
    proc = subprocess.Popen(
        [BARESIP, "-f", str(folder), "-t", "120"], cwd=folder,
        stdout=open(folder / "baresip.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    phone = BaresipPhone(proc, port, folder)
    try:
        deadline = time.monotonic() + 10
        while "baresip is ready" not in phone.log():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"baresip did not start:\n{phone.log()[-2000:]}")
            time.sleep(0.05)
        yield phone
    finally:
        stop_process_group(proc, wait=3)
        shutil.rmtree(folder, ignore_errors=True)

"""Start and stop the sim phone as a child process, for the demo and the tests.

The child's stdout (JSON events) is drained by a thread so the pipe never fills and blocks it; every
line also goes to a log file, and parsed events are kept for whoever wants to look at them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def stop_process_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, wait: float = 5.0) -> int | None:
    """`sig` to the child's own process group (it was started with start_new_session=True: a peer, `serve`
    and their children), SIGKILL after `wait` seconds; returns its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


class SimPhoneError(RuntimeError):
    """The sim phone did not start or did not stop as it should; the message quotes its stderr."""


class SimPhoneProcess:
    """`python -m sim.phone` as a context manager: `with SimPhoneProcess(...) as phone: phone.port`."""

    def __init__(
        self,
        *,
        numbers: Path | None = None,
        personas: Path | None = None,
        rate: int = 8000,
        log_path: Path | None = None,
        cache_dir: Path | None = None,
        python: str = sys.executable,
        start_timeout_s: float = 20.0,
        dial: tuple[str, str, str] | None = None,
    ) -> None:
        """`dial` = (SIP URI, persona, caller number): once ready the phone calls that URI (an inbound call)."""
        self.cmd = [python, "-m", "sim.phone", "--port", "0", "--rate", str(rate)]
        if dial is not None:
            self.cmd += ["--dial", dial[0], "--dial-persona", dial[1], "--dial-from", dial[2]]
        if numbers is not None:
            self.cmd += ["--numbers", str(numbers)]
        if personas is not None:
            self.cmd += ["--personas", str(personas)]
        if cache_dir is not None:
            self.cmd += ["--cache", str(cache_dir)]
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._drain: threading.Thread | None = None

    # -- start / stop -------------------------------------------------------------------------
    def start(self) -> int:
        """Launch the child and wait for its `ready` event; returns the SIP port it listens on."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the child)
        self._proc = subprocess.Popen(
            self.cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        self._drain = threading.Thread(target=self._read_stdout, name="sim-phone-stdout", daemon=True)
        self._drain.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                err = self.stderr_text()
                self.stop()
                raise SimPhoneError(f"sim phone did not become ready: {err or 'no output'}")
        return self.port

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, wait; SIGKILL only if it hangs. Returns the exit code (0 = clean shutdown)."""
        proc = self._proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._drain is not None:
            self._drain.join(5)
        return int(proc.returncode)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        self._stderr.seek(0, os.SEEK_END)
        return "\n".join(line for line in text.splitlines() if line.strip())[-2000:]

    def __enter__(self) -> SimPhoneProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- events -------------------------------------------------------------------------------
    def events_named(self, name: str, call: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == name and (call is None or e.get("call") == call)]

    def wait_for(self, name: str, timeout_s: float, **match: Any) -> dict[str, Any]:
        """Block until an event with this name (and these field values) has been seen."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                        return event
            time.sleep(0.02)
        raise SimPhoneError(f"sim phone: no {name} event {match or ''} within {timeout_s} s")

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        log = self.log_path.open("a", encoding="utf-8") if self.log_path else None
        try:
            for raw in self._proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                if log is not None:
                    log.write(line + "\n")
                    log.flush()
                if not line.startswith("{"):
                    continue  # pjsip's own start-up lines
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                with self._lock:
                    self.events.append(event)
                if event.get("event") == "ready":
                    self.port = int(event["port"])
                    self._ready.set()
        finally:
            if log is not None:
                log.close()

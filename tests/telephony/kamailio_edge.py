"""Kamailio (Debian's 5.6) running the shipped deploy/kamailio/kamailio.cfg on loopback, for one test.

Addresses, all loopback: the node side of the edge listens on 127.0.0.1 (where our endpoints and the
sipp stand-ins for nodes live), the carrier side on EDGE_EXT_IP, the carrier itself is CARRIER_IP,
and OUTSIDER_IP is someone who is neither. Every value the cfg takes is passed with `-A`, so the
shipped file is used as it is. Kamailio's stderr goes through `python -m telemetry.mask_stream` into
the edge's log, as docs/deploy.md tells operators to run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torture
from sip_peers import free_udp_port

from sim.process import stop_process_group

ROOT = Path(__file__).resolve().parents[2]
EDGE_CFG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
NODE_IP = "127.0.0.1"
EDGE_EXT_IP = "127.0.0.3"
CARRIER_IP = "127.0.0.4"
OUTSIDER_IP = "127.0.0.2"
OUR_NUMBER = "4001234567"


@dataclass
class Edge:
    int_port: int  # where nodes send (NODE_IP)
    ext_port: int  # what the carrier sees (EDGE_EXT_IP)
    log_path: Path
    proc: subprocess.Popen[bytes]

    @property
    def int_uri(self) -> str:
        return f"sip:{NODE_IP}:{self.int_port}"

    @property
    def ext_hostport(self) -> str:
        return f"{EDGE_EXT_IP}:{self.ext_port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def answers_options(self, wait_s: float = 1.0) -> bool:
        """The keepalive a node (or a carrier) sends: OPTIONS to the edge itself, answered 200."""
        codes = torture.send("options_baseline.sip", self.int_port, "udp", wait_s=wait_s, until="200",
                             host=NODE_IP, source=NODE_IP)
        return "200" in codes


@contextmanager
def kamailio_edge(
    workdir: Path,
    *,
    carrier_port: int,
    nodes: Sequence[str],
    numbers: Sequence[str] = (OUR_NUMBER,),
    ping_s: int = 1,
    fr_timeout_ms: int = 1500,
) -> Iterator[Edge]:
    """Start Kamailio with `nodes` (SIP URIs) as dispatcher set 1; yield once it answers OPTIONS; stop it."""
    if not Path(KAMAILIO).is_file():
        raise RuntimeError(f"{KAMAILIO} not found: install the Debian package `kamailio` (make sysdeps does)")
    workdir.mkdir(parents=True, exist_ok=True)
    int_port = free_udp_port(host=NODE_IP)
    ext_port = free_udp_port(host=EDGE_EXT_IP)
    ds_list = workdir / "dispatcher.list"
    ds_list.write_text("".join(f"1 {uri}\n" for uri in nodes), encoding="utf-8")
    defines = {
        "INT_IP": NODE_IP, "INT_PORT": str(int_port), "EXT_IP": EDGE_EXT_IP, "EXT_PORT": str(ext_port),
        "CARRIER_IP": f'"{CARRIER_IP}"', "CARRIER_URI": f'"sip:{CARRIER_IP}:{carrier_port}"',
        "OUR_NUMBERS": '"^(' + "|".join(numbers) + ')$"', "DISPATCHER_LIST": f'"{ds_list}"',
        "DS_PING_S": str(ping_s), "FR_TIMEOUT_MS": str(fr_timeout_ms), "LOG_LEVEL": "2",
    }
    args = [KAMAILIO, "-f", str(EDGE_CFG), "-DD", "-E", "-n", "2", "-m", "32", "-w", str(workdir),
            "-Y", str(workdir), "-P", str(workdir / "kamailio.pid")]
    for name, value in defines.items():
        args += ["-A", f"{name}={value}"]
    log_path = workdir / "edge.log"
    proc = subprocess.Popen(args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stderr is not None
    with open(log_path, "wb") as sink:
        masker = subprocess.Popen([sys.executable, "-m", "telemetry.mask_stream"], stdin=proc.stderr,
                                  stdout=sink, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stderr.close()
    edge = Edge(int_port, ext_port, log_path, proc)
    try:
        deadline = time.monotonic() + 10
        while not edge.answers_options(wait_s=0.3):
            if proc.poll() is not None or time.monotonic() > deadline:
                time.sleep(0.2)
                raise RuntimeError(f"kamailio did not come up (exit {proc.poll()}):\n{edge.log()[-3000:]}")
        yield edge
    finally:
        stop_process_group(proc)  # Kamailio and the children it forked
        masker.wait(10)



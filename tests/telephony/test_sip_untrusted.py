"""INVITEs from addresses that are not a configured trunk are refused 403 before any call state is kept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reactor_wait import run_until, spin
from sip_config import make_config
from sip_peers import SIPP, SIPP_SCENARIOS, free_udp_port

from config.server_config import TrunkSettings
from telephony.trust import TrustedSources, source_ip, uri_host

TRUNK_IP = "127.0.0.2"  # a loopback alias standing for the carrier; the caller outside it is 127.0.0.1


def test_uri_hosts_and_source_addresses_parse() -> None:
    """Trunk URIs and pjsip source addresses (IPv4, IPv6, params, user parts) reduce to the bare IP."""
    assert uri_host("sip:203.0.113.5:5060") == "203.0.113.5"
    assert uri_host("sip:4000@carrier.example;transport=tcp") == "carrier.example"
    assert uri_host("sips:[2001:db8::1]:5061;lr") == "2001:db8::1"
    assert source_ip("127.0.0.2:5060") == "127.0.0.2"
    assert source_ip("[2001:DB8::1]:5060") == "2001:db8::1"
    trusted = TrustedSources.of_trunks([TrunkSettings(name="t", proxy="sip:127.0.0.2:5060",
                                                      registrar="sip:[::1]:5060", username="u", password="p")])
    assert trusted.allows("127.0.0.2:41234") and trusted.allows("[::1]:5060")
    assert not trusted.allows("127.0.0.1:5060") and not trusted.allows("garbage")


@pytest.fixture(scope="module")
def trunk_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from twisted.internet import reactor

    from telephony.endpoint import SipEndpoint

    trunk = TrunkSettings(name="carrier", proxy=f"sip:{TRUNK_IP}:5999", caller_id="4000")
    ep = SipEndpoint(make_config(Path(tmp_path_factory.mktemp("sip")), trunks=(trunk,)), reactor)
    run_until(ep.start())
    try:
        yield ep
    finally:
        run_until(ep.stop())


def _call_from(endpoint: Any, source: str, code: str) -> int:
    """sipp as the caller bound to `source` (sip_peers.sipp binds 127.0.0.1 only); exit 0 = got `code`."""
    work = Path(tempfile.mkdtemp(prefix="sipp-untrusted-"))
    scenario = (SIPP_SCENARIOS / "uac_expect_final.xml").read_text().replace("@code@", code)
    (work / "uac.xml").write_text(scenario)
    port, media = free_udp_port(), free_udp_port(pairs=3)
    proc = subprocess.Popen(
        [SIPP, "-i", source, "-p", str(port), "-mi", source, "-mp", str(media), "-sf", str(work / "uac.xml"),
         "-m", "1", "-nostdin", "-timeout", "10", f"127.0.0.1:{endpoint.local_port}"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(500):
            if proc.poll() is not None:
                break
            spin(0.02)
        return proc.wait(5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.integration
def test_invite_from_outside_the_trunks_gets_403_and_holds_no_slot(trunk_endpoint: Any) -> None:
    """sipp on 127.0.0.1 (no trunk) gets 403; every call slot is free afterwards and no call is tracked."""
    assert _call_from(trunk_endpoint, "127.0.0.1", "403") == 0
    spin(0.2)
    assert trunk_endpoint.free_call_slots == trunk_endpoint.max_calls and trunk_endpoint.active_calls == 0


@pytest.mark.integration
def test_invite_from_the_trunk_address_gets_busy(trunk_endpoint: Any) -> None:
    """The same INVITE from the trunk's address (127.0.0.2) gets the outbound-only 486, so the check is by source."""
    assert _call_from(trunk_endpoint, TRUNK_IP, "486") == 0
    spin(0.2)
    assert trunk_endpoint.free_call_slots == trunk_endpoint.max_calls


def test_refusal_log_is_one_line_per_source_per_minute() -> None:
    """A flood of refusals logs once per source IP per minute; the next line says how many went unlogged."""
    from twisted.internet.task import Clock

    from telephony.trust import RefusalLogBrake

    clock = Clock()
    brake = RefusalLogBrake(clock)
    assert brake.should_log("127.0.0.1") == 0
    assert all(brake.should_log("127.0.0.1") is None for _ in range(1999))
    assert brake.should_log("127.0.0.3") == 0  # another source has its own minute
    clock.advance(60)
    assert brake.should_log("127.0.0.1") == 1999

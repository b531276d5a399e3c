"""deploy/kamailio/kamailio.cfg on Kamailio 5.6, started by each test on loopback ports.

Outbound: a real pjsua2 call through the edge to a sipp carrier (record-routed, one source address).
Inbound: sipp as the carrier calling our caller ID, spread over two sipp nodes by dispatcher, a dead
node probed out, a hung one failed over. Hostile input: the torture corpus (400 or a documented drop),
an outsider's INVITE (403). See docs/deploy.md and docs/robustness.md.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torture
from kamailio_edge import CARRIER_IP, EDGE_EXT_IP, NODE_IP, OUR_NUMBER, OUTSIDER_IP, Edge, kamailio_edge
from reactor_wait import run_until, spin
from sip_config import make_config
from sip_peers import SippPeer, free_udp_port, sipp

from config.server_config import SipSettings, TrunkSettings
from telephony.events import CallEnded

pytestmark = pytest.mark.integration

CASES = torture.load_index()
DOC = torture.ROOT / "docs" / "robustness.md"
BORROWER = "13800138000"


def messages(peer: SippPeer) -> list[str]:
    """The SIP messages a sipp peer received (its -trace_msg log), one string each."""
    text = "".join(log.read_text(errors="replace") for log in peer.log_dir.glob("*_messages.log"))
    return [m for m in re.split(r"^-{20,}.*$", text, flags=re.MULTILINE) if "message received" in m]


def received(peer: SippPeer, method: str) -> list[str]:
    return [m for m in messages(peer) if re.search(rf"^{method} sip:", m, re.MULTILINE)]


def header(message: str, name: str) -> list[str]:
    prefix = name.lower() + ":"
    return [line.split(":", 1)[1].strip() for line in message.splitlines() if line.lower().startswith(prefix)]


def test_outbound_call_goes_through_the_edge_and_its_bye_follows_the_record_route(tmp_path: Path) -> None:
    """A pjsua2 call on a trunk whose proxy is the edge: the carrier sees only the edge; ACK/BYE come that way."""
    from twisted.internet import reactor

    from telephony.endpoint import SipEndpoint

    with sipp("uas_carrier.xml", "-trace_msg", calls=1, host=CARRIER_IP,
              params={"number": BORROWER, "caller": OUR_NUMBER}) as carrier:
        node_port = free_udp_port()
        with kamailio_edge(tmp_path / "edge", carrier_port=carrier.port, nodes=[f"sip:{NODE_IP}:{node_port}"]) as edge:
            trunk = TrunkSettings(name="edge", proxy=edge.int_uri, domain=f"{CARRIER_IP}:{carrier.port}",
                                  caller_id=OUR_NUMBER)
            config = dataclasses.replace(make_config(tmp_path, trunks=(trunk,)),
                                         sip=SipSettings(bind_address=NODE_IP, port=node_port))
            ep = SipEndpoint(config, reactor)
            run_until(ep.start())
            try:
                call: Any = run_until(ep.dial(BORROWER, trunk="edge"), 8)
                spin(0.3)
                ended: CallEnded = run_until(call.hangup(), 5)
            finally:
                run_until(ep.stop())
            assert ended.hangup_by == "bot"
            assert carrier.wait(5) == 0, carrier.output()  # sipp saw INVITE, ACK, BYE in order and answered
            assert edge.answers_options()
        [invite] = received(carrier, "INVITE")
        acks = received(carrier, "ACK")
        byes = received(carrier, "BYE")  # one, or more if a retransmission crossed sipp's 200
    # request-URI and From name the carrier (trunk `domain`; pjsip leaves the port out of From), not the edge
    assert re.search(rf"^INVITE sip:{BORROWER}@{CARRIER_IP}:{carrier.port} SIP/2.0$", invite, re.MULTILINE), invite
    assert header(invite, "From")[0].startswith(f"sip:{OUR_NUMBER}@{CARRIER_IP};"), invite
    assert acks and byes and len({header(bye, "CSeq")[0] for bye in byes}) == 1
    for message in (invite, *acks, *byes):  # the carrier's next hop is the edge's carrier-side socket, never a node
        vias = header(message, "Via")
        assert vias[0].startswith(f"SIP/2.0/UDP {EDGE_EXT_IP}:{edge.ext_port};"), vias
        assert vias[1].startswith(f"SIP/2.0/UDP {NODE_IP}:{node_port}"), vias
    assert header(invite, "Record-Route")[0].startswith(f"<sip:{EDGE_EXT_IP}:{edge.ext_port};"), invite


@pytest.mark.parametrize("password", ["secret", "wrong"])
def test_carrier_digest_challenge_passes_through_to_the_node(tmp_path: Path, password: str) -> None:
    """The carrier's 401 reaches the node, which answers it with its own trunk credentials; wrong ones end in 403."""
    from twisted.internet import reactor

    from telephony.dispositions import DialFailure
    from telephony.endpoint import SipEndpoint

    with sipp("uas_carrier_digest.xml", "-trace_msg", calls=1, host=CARRIER_IP) as carrier:
        node_port = free_udp_port()
        with kamailio_edge(tmp_path / "edge", carrier_port=carrier.port, nodes=[f"sip:{NODE_IP}:{node_port}"]) as edge:
            trunk = TrunkSettings(name="edge", proxy=edge.int_uri, domain=f"{CARRIER_IP}:{carrier.port}",
                                  caller_id=OUR_NUMBER, username="4000", password=password)
            config = dataclasses.replace(make_config(tmp_path, trunks=(trunk,)),
                                         sip=SipSettings(bind_address=NODE_IP, port=node_port))
            ep = SipEndpoint(config, reactor)
            run_until(ep.start())
            try:
                if password == "secret":
                    call: Any = run_until(ep.dial(BORROWER, trunk="edge"), 8)
                    run_until(call.hangup(), 5)
                else:
                    with pytest.raises(DialFailure) as failure:
                        run_until(ep.dial(BORROWER, trunk="edge"), 8)
                    assert failure.value.sip_code == 403
            finally:
                run_until(ep.stop())
            assert carrier.wait(5) == (0 if password == "secret" else 1), carrier.output()
        invites = received(carrier, "INVITE")
    assert len(invites) == 2 and "Authorization:" not in invites[0] and 'username="4000"' in invites[1]
    assert all(header(m, "Via")[0].startswith(f"SIP/2.0/UDP {EDGE_EXT_IP}:") for m in invites)


def inbound_calls(edge: Edge, count: int) -> tuple[int, float]:
    """`count` calls from the carrier to our caller ID through the edge, at once; (sipp exit code, seconds)."""
    started = time.monotonic()
    with sipp("uac_carrier_call.xml", "-s", OUR_NUMBER, "-r", "20", "-l", str(count), "-recv_timeout", "10000",
              calls=count, host=CARRIER_IP, remote=edge.ext_hostport) as caller:
        code = caller.wait(20)
        output = caller.output()
    assert code == 0, output
    return code, time.monotonic() - started


@pytest.fixture
def two_nodes() -> Iterator[tuple[SippPeer, SippPeer]]:
    """Two sipp UAS stand-ins for nodes: answer every INVITE, and OPTIONS probes (-aa)."""
    with sipp("uas_node.xml", "-aa", "-trace_msg") as first, sipp("uas_node.xml", "-aa", "-trace_msg") as second:
        yield first, second


def test_inbound_calls_are_spread_over_nodes_and_a_dead_node_is_probed_out(
    tmp_path: Path, two_nodes: tuple[SippPeer, SippPeer],
) -> None:
    """Round robin over two live nodes; once one dies, the OPTIONS probe takes it out and calls go to the other."""
    first, second = two_nodes
    fr_ms = 2000  # a call that tried the dead node first would take this much longer
    with kamailio_edge(tmp_path / "edge", carrier_port=5999, fr_timeout_ms=fr_ms,
                       nodes=[f"sip:{NODE_IP}:{first.port}", f"sip:{NODE_IP}:{second.port}"]) as edge:
        _, baseline = inbound_calls(edge, 4)
        assert (len(received(first, "INVITE")), len(received(second, "INVITE"))) == (2, 2)
        assert all(f"INVITE sip:{OUR_NUMBER}@" in m for m in received(first, "INVITE") + received(second, "INVITE"))
        second.proc.kill()  # the node dies (sipp's own pid; its context exit finds it gone)
        second.proc.wait(5)
        before = len(received(first, "INVITE"))
        # A probe goes out every ds_ping_interval (1 s) and fails after tm's fr_timer without an answer;
        # one failed probe marks the node inactive.
        spin(1 + fr_ms / 1000 + 1)
        _, took = inbound_calls(edge, 4)
        assert len(received(first, "INVITE")) == before + 4
        assert took < baseline + fr_ms / 2000, f"a call waited for the dead node: {took:.2f} s, {baseline:.2f} s before"
        assert "edge.node_failed" not in edge.log()  # the probe took it out, not a failed call
        assert edge.answers_options()


def test_a_node_that_swallows_invites_is_failed_over_and_no_call_is_lost(tmp_path: Path) -> None:
    """A node that passes the health check but never answers an INVITE: failure_route moves its calls on."""
    with (sipp("uas_node.xml", "-aa", "-trace_msg") as good,
          sipp("uas_swallow_invite.xml", "-aa", "-trace_msg") as hung,
          kamailio_edge(tmp_path / "edge", carrier_port=5999, fr_timeout_ms=1000,
                        nodes=[f"sip:{NODE_IP}:{good.port}", f"sip:{NODE_IP}:{hung.port}"]) as edge):
        inbound_calls(edge, 4)  # sipp exits 0 only when all 4 were answered and hung up
        assert len(received(hung, "INVITE")) >= 1
        assert len(received(good, "INVITE")) == 4
        assert f"edge.node_failed dst=sip:{NODE_IP}:{hung.port} status=408" in edge.log()


def test_a_full_node_passes_the_call_to_the_next_and_stays_in_the_rotation(tmp_path: Path) -> None:
    """A node answering 486 (its slots all busy) stays up: the call goes to the next node, later calls still try it."""
    with (sipp("uas_node.xml", "-aa", "-trace_msg") as good,
          sipp("uas_reject.xml", "-aa", "-trace_msg", params={"code": "486", "reason": "Busy Here"}) as full,
          kamailio_edge(tmp_path / "edge", carrier_port=5999,
                        nodes=[f"sip:{NODE_IP}:{good.port}", f"sip:{NODE_IP}:{full.port}"]) as edge):
        inbound_calls(edge, 4)  # all 4 answered
        assert len(received(good, "INVITE")) == 4
        assert len(received(full, "INVITE")) >= 2, "the full node was taken out of the rotation"
        assert f"edge.node_busy dst=sip:{NODE_IP}:{full.port}" in edge.log()
        assert "edge.node_failed" not in edge.log()


def test_requests_from_neither_carrier_nor_node_are_forbidden_and_unknown_numbers_not_found(tmp_path: Path) -> None:
    """An outsider's INVITE gets 403; the carrier calling a number that is not ours gets 404; no node sees either."""
    with (sipp("uas_node.xml", "-aa", "-trace_msg") as node,
          kamailio_edge(tmp_path / "edge", carrier_port=5999, nodes=[f"sip:{NODE_IP}:{node.port}"]) as edge):
        for source, code, target in ((OUTSIDER_IP, "403", f"{NODE_IP}:{edge.int_port}"),
                                     (OUTSIDER_IP, "403", edge.ext_hostport),
                                     (CARRIER_IP, "404", edge.ext_hostport)):
            with sipp("uac_expect_final.xml", calls=1, params={"code": code}, host=source, remote=target) as caller:
                assert caller.wait(10) == 0, f"{source} -> {target}: {caller.output()}"
        assert received(node, "INVITE") == []
        assert f"edge.refused src={OUTSIDER_IP} method=INVITE" in edge.log()


@pytest.fixture(scope="module")
def torture_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    with kamailio_edge(tmp_path_factory.mktemp("edge"), carrier_port=5999, nodes=[f"sip:{NODE_IP}:5998"]) as edge:
        yield edge


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file.removesuffix(".sip"))
def test_torture_message_through_the_edge(torture_edge: Edge, case: torture.Case) -> None:
    """From an outsider over UDP: the indexed answer (400 from sanity, or a documented drop), then OPTIONS 200."""
    assert case.kamailio, f"{case.file}: no `kamailio` entry in index.toml"
    got = torture.outcome(torture.send(case.file, torture_edge.int_port, "udp", wait_s=0.5, source=OUTSIDER_IP))
    assert got == tuple(sorted(case.kamailio)), case.tests
    if case.kind == "invalid":
        assert got in (("400",), ("403",), ("drop",)), "an invalid request is refused or dropped, never passed on"
    assert torture_edge.answers_options()


def test_edge_log_carries_the_corpus_numbers_masked_only(torture_edge: Edge) -> None:
    """Kamailio's own parse errors quote the messages: through the masker the numbers appear masked, never raw."""
    for case in CASES:
        if case.file in ("quotbal_unterminated_quote.sip", "duplicate_from_header.sip"):
            torture.send(case.file, torture_edge.int_port, "udp", wait_s=0.2, source=OUTSIDER_IP)
    spin(0.2)
    text = torture_edge.log()
    assert "139****5678" in text or "137****0137" in text or "138****8000" in text
    leaked = [n for n in torture.PHONE_NUMBERS if n in text]
    assert not leaked, f"unmasked in the edge log: {leaked}"


def test_docs_table_matches_the_index() -> None:
    """docs/robustness.md holds the Kamailio table generated from index.toml (`python tests/telephony/torture.py`)."""
    assert torture.kamailio_table(CASES) in DOC.read_text(encoding="utf-8")

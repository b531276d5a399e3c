"""DTMF both ways, SIP INFO bodies, and blind transfer, against real sipp peers."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from reactor_wait import run_until, spin
from sip_peers import sipp
from sip_signals import write_dtmf_pcap

from telephony.events import CallEnded, DtmfReceived, InfoReceived, TransferResult

pytestmark = pytest.mark.integration


def test_dtmf_rfc2833_and_sip_info_and_info_bodies(endpoint: Any, tmp_path: Path) -> None:
    """RFC 2833 and SIP INFO keys arrive as DtmfReceived in order; other INFO bodies as InfoReceived, empty ones not."""
    pcap = tmp_path / "dtmf.pcap"
    write_dtmf_pcap(pcap, "123")
    events: list[object] = []
    with sipp("uas_dtmf.xml", calls=1, files={"dtmf.pcap": pcap.read_bytes()}) as peer:
        call = run_until(endpoint.dial(peer.uri))
        call.add_event_listener(events.append)
        deadline = 60
        while deadline and not any(isinstance(e, InfoReceived) for e in events):
            spin(0.1)
            deadline -= 1
        spin(0.3)  # the peer's empty keep-alive INFO follows
        ended: CallEnded = run_until(call.hangup(), 5)
        assert peer.wait(5) == 0, peer.output()  # sipp saw 200 to both INFOs and our BYE: a clean dialog
    dtmf = [e for e in events if isinstance(e, DtmfReceived)]
    assert [(e.digit, e.method) for e in dtmf] == [
        ("1", "rfc2833"), ("2", "rfc2833"), ("3", "rfc2833"), ("#", "sip_info"),
    ]
    assert all(0.0 <= a.t <= b.t for a, b in itertools.pairwise(dtmf))
    infos = [e for e in events if isinstance(e, InfoReceived)]
    assert [(i.content_type, i.body.rstrip("\r\n")) for i in infos] == [
        ("application/x-sim-transcript", "I will pay on Friday")
    ]
    assert ended.dtmf == "123#"


def test_dtmf_out_is_heard_back_through_an_echo(endpoint: Any) -> None:
    """send_dtmf emits RFC 2833 events: an RTP-echo peer reflects them and we decode the same digits."""
    events: list[object] = []
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        call = run_until(endpoint.dial(peer.uri))
        call.add_event_listener(events.append)
        spin(0.3)
        assert call.send_dtmf("95#") == "rfc2833"
        for _ in range(40):
            if len([e for e in events if isinstance(e, DtmfReceived)]) >= 3:
                break
            spin(0.1)
        run_until(call.hangup(), 5)
    got = [(e.digit, e.method) for e in events if isinstance(e, DtmfReceived)]
    assert got == [("9", "rfc2833"), ("5", "rfc2833"), ("#", "rfc2833")]
    with pytest.raises(ValueError):
        call.send_dtmf("9x")


def test_blind_transfer_success_hangs_up(endpoint: Any) -> None:
    """REFER accepted and the target answers (sipfrag 200): TransferResult accepted, and the bot drops the call."""
    with sipp("uas_refer.xml", calls=1, params={"frag": "200 OK"}) as peer:
        call = run_until(endpoint.dial(peer.uri))
        result: TransferResult = run_until(call.transfer("sip:agents@127.0.0.1:5999"), 10)
        ended: CallEnded = run_until(call.ended, 5)
        assert peer.wait(5) == 0, peer.output()  # REFER, NOTIFY and BYE all went as the scenario expects
    assert result == TransferResult(True, 200, "OK")
    assert ended.reason == "transferred" and ended.hangup_by == "bot"


def test_blind_transfer_failure_keeps_the_call(endpoint: Any) -> None:
    """The transfer target is busy (sipfrag 486): TransferResult not accepted and the call stays up."""
    with sipp("uas_refer.xml", params={"frag": "486 Busy Here"}) as peer:
        call = run_until(endpoint.dial(peer.uri))
        result: TransferResult = run_until(call.transfer("sip:agents@127.0.0.1:5999"), 10)
        assert not call.is_over
        ended: CallEnded = run_until(call.hangup(), 5)
    assert (result.accepted, result.sip_code) == (False, 486)
    assert ended.reason == "local_hangup"
    with pytest.raises(ValueError):
        run_until(call.transfer("agents"))
    with pytest.raises(ValueError, match="no agent_uri configured for this direct call"):
        run_until(call.transfer())

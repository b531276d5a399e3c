"""Media faults in an answered call, against real sipp peers: the RTP timeout ends a dead call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reactor_wait import run_until
from sip_config import make_config
from sip_peers import sipp
from sip_signals import noise, write_rtp_pcap

from telephony.events import CallEnded

pytestmark = pytest.mark.integration

RTP_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An endpoint whose `[media] rtp_timeout_seconds` is 2 s, so a dead call ends within the test."""
    from twisted.internet import reactor

    from telephony.endpoint import SipEndpoint

    config = make_config(tmp_path_factory.mktemp("sip"), rtp_timeout_seconds=RTP_TIMEOUT_S)
    ep = SipEndpoint(config, reactor)
    run_until(ep.start())
    try:
        yield ep
    finally:
        run_until(ep.stop())


def _pcap(tmp_path: Path, seconds: float) -> bytes:
    path = tmp_path / "audio.pcap"
    write_rtp_pcap(path, noise(seconds, seed=11))
    return path.read_bytes()


def test_peer_that_stops_sending_rtp_is_hung_up_media_timeout(endpoint: Any, tmp_path: Path) -> None:
    """sipp streams 1.5 s of RTP and then goes quiet: the call is hung up `media_timeout` ~2 s later."""
    with sipp("uas_stream.xml", files={"audio.pcap": _pcap(tmp_path, 1.5)}) as peer:
        call = run_until(endpoint.dial(peer.uri, max_seconds=15.0))
        ended: CallEnded = run_until(call.ended, 12)
        received = call._rtp_seen
    assert ended.reason == "media_timeout" and ended.hangup_by == "bot"
    assert received >= 60  # RTP did flow (75 packets sent) before it stopped: the counter really moves
    # RTP stops ~1.5 s after answer; the timeout is 2 s, checked once a second
    assert 1.5 + RTP_TIMEOUT_S - 0.5 <= ended.duration_s <= 1.5 + RTP_TIMEOUT_S + 1.5


def test_peer_that_never_sends_rtp_is_hung_up_media_timeout(endpoint: Any, tmp_path: Path) -> None:
    """A peer that answers and sends no RTP at all is hung up `media_timeout` after the timeout."""
    with sipp("uas_echo.xml") as peer:  # no -rtp_echo: sipp answers and sends nothing
        call = run_until(endpoint.dial(peer.uri, max_seconds=15.0))
        ended: CallEnded = run_until(call.ended, 12)
    assert ended.reason == "media_timeout" and ended.hangup_by == "bot"
    assert RTP_TIMEOUT_S - 0.1 <= ended.duration_s <= RTP_TIMEOUT_S + 1.5


def test_call_with_flowing_rtp_is_not_timed_out(endpoint: Any) -> None:
    """RTP that keeps coming (sipp echoes ours) keeps the call up past the timeout until max_duration."""
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        call = run_until(endpoint.dial(peer.uri, max_seconds=3 * RTP_TIMEOUT_S))
        ended: CallEnded = run_until(call.ended, 12)
    assert ended.reason == "max_duration"
    assert ended.duration_s >= 3 * RTP_TIMEOUT_S - 0.1

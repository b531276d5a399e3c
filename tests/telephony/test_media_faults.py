"""Media faults in an answered call against real peers: RTP timeout, and hostile RTP that must not break it."""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reactor_wait import run_until, spin
from sip_config import make_config
from sip_peers import sipp
from sip_signals import best_correlation, noise, write_rtp_pcap

from pcm.wav import read_wav
from telephony.events import CallEnded

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

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


# ---------------------------------------------------------------------------------------------------
# Hostile RTP: wrong payload type, SSRC change, sequence jump, a burst of 500 packets at once.

SEGMENT_S = 1.0
PER = 160  # samples per 20 ms packet at 8 kHz


@dataclass(frozen=True)
class _Segment:
    """One second of borrower audio as sent: its own signal, and what is wrong with its packets."""

    name: str
    start_s: float  # when its first packet is sent, seconds after the sender starts
    signal: np.ndarray


def _rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def _alaw(samples: np.ndarray) -> list[bytes]:
    pcm = np.asarray(samples, "<i2").tobytes()
    return [audioop.lin2alaw(pcm[i : i + PER * 2], 2) for i in range(0, len(pcm) - PER * 2 + 1, PER * 2)]


def _hostile_stream(target: tuple[str, int], stop: threading.Event) -> tuple[list[_Segment], dict[str, int]]:
    """Send the hostile RTP sequence to `target` in real time from a thread; returns what was sent."""
    segs = {name: noise({"burst": 10.0, "after": 4.0}.get(name, SEGMENT_S), seed) for name, seed in
            (("normal", 31), ("wrong_pt", 32), ("new_ssrc", 33), ("seq_jump", 34), ("burst", 35), ("after", 36))}
    plan: list[tuple[float, bytes]] = []  # (send time, packet)
    seq, ts, ssrc = 1000, 5000, 0x11111111
    t = 0.0

    def paced(name: str, pt: int = 8) -> None:
        nonlocal seq, ts, t
        for i, payload in enumerate(_alaw(segs[name])):
            plan.append((t, _rtp(pt, seq, ts, ssrc, payload, marker=i == 0)))
            seq, ts, t = seq + 1, ts + PER, t + 0.02

    starts: dict[str, float] = {}
    starts["normal"] = t
    paced("normal")
    starts["wrong_pt"] = t
    paced("wrong_pt", pt=0)  # PCMU was not in the answer (PCMA + telephone-event only)
    starts["new_ssrc"] = t
    seq, ts, ssrc = 40000, 900_000_000, 0x22222222  # a new source: new SSRC, sequence and timestamp bases
    paced("new_ssrc")
    starts["seq_jump"] = t
    seq += 10000  # 10 000 packets "lost" at once, timestamps continuous
    paced("seq_jump")
    starts["burst"] = t
    for payload in _alaw(segs["burst"])[:500]:  # 500 packets (10 s of audio) in one go
        plan.append((t, _rtp(8, seq, ts, ssrc, payload)))
        seq, ts = seq + 1, ts + PER
    starts["after"] = t
    paced("after")
    sent = {"packets": 0}

    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            t0 = time.monotonic()
            for at, packet in plan:
                if stop.is_set():
                    return
                delay = t0 + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sock.sendto(packet, target)
                sent["packets"] += 1

    threading.Thread(target=run, daemon=True, name="hostile-rtp").start()
    segments = [_Segment(name, starts[name], segs[name]) for name in starts]
    return segments, sent


def _local_rtp(call: Any) -> tuple[str, int]:
    name = str(call._live.getMedTransportInfo(0).localRtpName)
    host, _, port = name.rpartition(":")
    return host, int(port)


def test_hostile_rtp_keeps_the_call_up_and_the_recording_aligned(endpoint: Any, tmp_path: Path) -> None:
    """Wrong payload type, SSRC change, sequence jump and a 500-packet burst: the call goes on, and every
    good segment lands in the recording's right channel where it was sent, the bot's left channel unmoved."""
    record = tmp_path / "hostile.wav"
    bot = noise(10.0, seed=30)
    stop = threading.Event()
    with sipp("uas_echo.xml") as peer:  # answers with SDP; sends no RTP itself
        call = run_until(endpoint.dial(peer.uri, record_path=record, max_seconds=9.0))
        call.playback.enqueue(bot.tobytes())
        try:
            segments, sent = _hostile_stream(_local_rtp(call), stop)
            spin(8.5)  # the sender is done after 8.0 s
            stats = call.media_stats()
            ended: CallEnded = run_until(call.ended, 15)
        finally:
            stop.set()
    assert ended.reason == "max_duration", ended  # not media_timeout, not an error: the call went on
    wav = read_wav(record)
    left, right = wav.channel("left"), wav.channel("right")
    assert abs(len(left) / 8000 - ended.duration_s) < 0.3  # one frame pair per media tick, none lost
    # bot channel: the start and a piece 5 s in are where playback put them (aligned by the tick)
    c0, lag0 = best_correlation(left, bot[:4000])
    c5, lag5 = best_correlation(left, bot[40000:44000], max_lag=48000)
    assert c0 > 0.95 and c5 > 0.95 and abs(lag5 - 40000 - lag0) <= PER, (c0, lag0, c5, lag5)
    assert sent["packets"] == 900
    # the 500 at once may overflow the socket's receive buffer (seen: 84 lost once); the paced 400 arrive
    assert stats["rx_packets"] >= 400, stats
    found = {seg.name: _placed(right, seg.signal[: 8000 if seg.name != "after" else 32000], seg.start_s)
             for seg in segments}
    normal_share, offset = found["normal"][0], float(np.median(found["normal"][1]))
    assert normal_share >= 0.75 and 0 <= offset < 0.25, found["normal"]
    assert found["wrong_pt"][0] < 0.1, found["wrong_pt"]  # the unnegotiated PCMU packets were dropped, not played
    for name in ("new_ssrc", "seq_jump"):  # a new source and a jump are played at once, in place
        share, delays = found[name]
        assert share >= 0.75 and abs(float(np.median(delays)) - offset) < 0.1, (name, found[name])
    # After the burst the jitter buffer holds up to ~0.5 s of it, so the next audio plays that much
    # later and the delay shrinks as the buffer discards a frame now and then; nothing is reordered.
    share, delays = found["after"]
    delays = [d - offset for d in delays]
    # while it drains, a discarded or concealed frame spoils the 60 ms piece it falls in (~0.7 intact)
    assert share >= 0.6, share
    assert all(-0.05 < d < 0.7 for d in delays), delays
    assert delays[-1] < delays[0] - 0.1, delays  # the buffer is draining back towards the normal delay
    assert all(b <= a + 0.03 for a, b in itertools.pairwise(delays)), delays  # never later again


def _placed(recorded: np.ndarray, sent: np.ndarray, start_s: float) -> tuple[float, list[float]]:
    """Where 60 ms pieces of `sent` are in `recorded`: share found intact, and each one's lateness (s)."""
    n = 3 * PER  # three packets (best_correlation needs 400+ samples)
    starts = range(0, len(sent) - n + 1, n)
    delays = []
    for k in starts:
        c, lag = best_correlation(recorded, sent[k : k + n], max_lag=len(recorded) - n)
        if c > 0.9:
            delays.append((lag - k) / 8000 - start_s)
    return len(delays) / len(starts), delays

"""Outbound calls against real sipp peers: dispositions, SIP codes, media both ways, timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reactor_wait import run_until
from sip_peers import sipp
from sip_signals import best_correlation, matched_fraction, noise, write_rtp_pcap

from pcm.wav import read_wav
from telephony.dispositions import DialFailure, EndpointBusy
from telephony.events import CallEnded

pytestmark = pytest.mark.integration


def _pcap(tmp_path: Path, seed: int, seconds: float = 3.0) -> tuple[np.ndarray, bytes]:
    signal = noise(seconds, seed)
    path = tmp_path / "audio.pcap"
    write_rtp_pcap(path, signal)
    return signal, path.read_bytes()


def _dial_failure(endpoint: Any, uri: str, timeout: float = 10.0) -> DialFailure:
    with pytest.raises(DialFailure) as info:
        run_until(endpoint.dial(uri), timeout)
    return info.value


@pytest.mark.parametrize(
    ("code", "reason", "disposition"),
    [
        (486, "Busy Here", "busy"),
        (404, "Not Found", "invalid_number"),
        (603, "Decline", "rejected"),
        (503, "Service Unavailable", "trunk_error"),
        (401, "Unauthorized", "trunk_error"),
        (407, "Proxy Authentication Required", "trunk_error"),
        (600, "Busy Everywhere", "busy"),
        (484, "Address Incomplete", "invalid_number"),
    ],
)
def test_final_responses_map_to_dispositions(endpoint: Any, code: int, reason: str, disposition: str) -> None:
    """A peer's final error response fails the dial with the right disposition, code and reason."""
    with sipp("uas_reject.xml", params={"code": str(code), "reason": reason}) as peer:
        failure = _dial_failure(endpoint, peer.uri)
    assert failure.disposition == disposition
    assert failure.sip_code == code
    assert failure.reason == reason
    assert failure.timings is not None and failure.timings.answered_at is None


def test_ringing_then_480_is_no_answer(endpoint: Any) -> None:
    """180 then 480: no_answer, with the ringing time recorded about a second before the end."""
    with sipp("uas_ring_480.xml") as peer:
        failure = _dial_failure(endpoint, peer.uri)
    assert (failure.disposition, failure.sip_code) == ("no_answer", 480)
    t = failure.timings
    assert t is not None and t.ringing_at is not None and t.ended_at is not None
    assert 0.7 < t.ended_at - t.ringing_at < 2.5


def test_early_media_then_busy_keeps_the_announcement(endpoint: Any, tmp_path: Path) -> None:
    """183 with SDP streams an announcement, then 486: busy, and the early audio matches what was sent."""
    signal, pcap = _pcap(tmp_path, seed=11, seconds=2.0)
    with sipp("uas_early_486.xml", files={"audio.pcap": pcap}) as peer:
        failure = _dial_failure(endpoint, peer.uri)
    assert (failure.disposition, failure.sip_code) == ("busy", 486)
    early = np.frombuffer(failure.early_media, "<i2")
    assert len(early) > 8000  # more than a second captured
    # Quarter-second pieces, like received audio elsewhere: a jitter-buffer slip under load may break one.
    assert matched_fraction(early, signal[4000:12000]) >= 0.75


def test_no_answer_at_all_times_out_as_no_answer(endpoint: Any) -> None:
    """A peer that never responds to the INVITE: the ring timeout (4 s here) fails the dial as no_answer."""
    with sipp("uas_silent.xml") as peer:
        failure = _dial_failure(endpoint, peer.uri, timeout=10)
    assert failure.disposition == "no_answer"
    assert failure.reason == "ring timeout"


def test_answered_call_records_bot_left_and_peer_right(endpoint: Any, tmp_path: Path) -> None:
    """Answer + streamed audio: the stereo recording holds our audio left and the peer's right, aligned."""
    peer_signal, pcap = _pcap(tmp_path, seed=22, seconds=3.0)
    bot_signal = noise(3.0, seed=33)
    frames: list[tuple[bytes, float]] = []
    record = tmp_path / "rec.wav"
    with sipp("uas_stream.xml", files={"audio.pcap": pcap}) as peer:
        call = run_until(endpoint.dial(peer.uri, record_path=record, max_seconds=4.0))
        call.set_frame_consumer(lambda f, t: frames.append((f, t)))
        call.playback.enqueue(bot_signal.tobytes())
        ended: CallEnded = run_until(call.ended, 10)
    assert ended.reason == "max_duration" and ended.hangup_by == "bot"
    assert 3.5 < ended.duration_s < 5.0
    assert ended.recording == str(record)
    wav = read_wav(record)
    assert wav.channels == 2 and wav.rate == 8000
    left, right = wav.channel("left"), wav.channel("right")
    c_bot, lag_bot = best_correlation(left, bot_signal[:8000])
    assert c_bot > 0.95
    assert matched_fraction(right, peer_signal[2000:18000]) >= 0.75  # quarter-second pieces survive jitter
    assert lag_bot < 800  # the bot starts within 100 ms of the answer on the left channel
    assert best_correlation(right, bot_signal[:8000])[0] < 0.3  # channels are not swapped or mixed
    assert best_correlation(left, peer_signal[4000:12000])[0] < 0.3
    # consumer saw every borrower frame with media-clock times
    assert len(frames) == wav.samples.shape[0] // 160
    assert frames[0][1] == 0.0 and abs(frames[-1][1] - 0.02 * (len(frames) - 1)) < 1e-9
    assert all(len(f) == 320 for f, _ in frames)


def test_remote_bye_during_playback_ends_once(endpoint: Any, tmp_path: Path) -> None:
    """The peer hangs up mid-prompt: one CallEnded (remote_bye) and the prompt reports it was cut."""
    _, pcap = _pcap(tmp_path, seed=5, seconds=1.0)
    events: list[object] = []
    done: list[tuple[int, bool]] = []
    with sipp("uas_remote_bye.xml", files={"audio.pcap": pcap}) as peer:
        call = run_until(endpoint.dial(peer.uri))
        call.add_event_listener(events.append)
        call.playback.enqueue(noise(10.0, seed=1).tobytes(), on_done=lambda n, i: done.append((n, i)))
        ended: CallEnded = run_until(call.ended, 10)
        second = run_until(call.hangup(), 2)
    assert ended.reason == "remote_bye" and ended.hangup_by == "remote"
    assert second is ended
    assert [e for e in events if isinstance(e, CallEnded)] == [ended]
    assert 1.5 < ended.duration_s < 3.5
    run_until_done(done)
    assert done and done[0][1] is True and 50 < done[0][0] < 200


def run_until_done(done: list[tuple[int, bool]]) -> None:
    from reactor_wait import spin

    for _ in range(50):
        if done:
            return
        spin(0.02)


def test_local_hangup_reports_bot(endpoint: Any) -> None:
    """hangup() on an answered call fires CallEnded with hangup_by=bot, all four timings in order, and RTP stats."""
    from reactor_wait import spin

    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        call = run_until(endpoint.dial(peer.uri))
        spin(1.0)
        stats = call.media_stats()
        ended: CallEnded = run_until(call.hangup(), 5)
    assert 35 <= stats["rx_packets"] <= 60 and stats["rx_lost"] == 0  # a second of echoed RTP
    assert call.media_stats() == {}  # no stream once the call is over
    t = ended.timings
    assert ended.reason == "local_hangup" and ended.hangup_by == "bot"
    assert t.ringing_at is not None and t.answered_at is not None and t.ended_at is not None
    assert t.invite_sent_at <= t.ringing_at <= t.answered_at <= t.ended_at


def test_bad_targets_are_refused_without_dialing(endpoint: Any) -> None:
    """A target that is not a SIP URI (and no trunk) fails at once with ValueError; nothing is dialed."""
    before = endpoint.active_calls
    with pytest.raises(ValueError, match="SIP URI"):
        run_until(endpoint.dial("13800138000"))
    with pytest.raises(ValueError, match="max_seconds"):
        run_until(endpoint.dial("sip:x@127.0.0.1:9", max_seconds=0))
    assert endpoint.active_calls == before


def test_unparsable_sdp_answer_is_a_trunk_error_and_next_call_works(endpoint: Any) -> None:
    """A 200 OK whose SDP does not parse ends that call as trunk_error (415); the next call still works."""
    with sipp("uas_bad_sdp.xml") as peer:
        failure = _dial_failure(endpoint, peer.uri)
    assert (failure.disposition, failure.sip_code) == ("trunk_error", 415)
    assert "SDP" in failure.reason
    with sipp("uas_reject.xml", params={"code": "486", "reason": "Busy Here"}) as peer:
        after = _dial_failure(endpoint, peer.uri)
        assert after.disposition == "busy", (after.sip_code, after.reason, peer.output()[:3000])


def test_unparsable_response_is_dropped_and_logged(endpoint: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A response pjsip cannot parse is dropped with a logged warning; the call ends as no_answer and the next works."""
    caplog.set_level("WARNING", logger="telephony.pjsip")
    with sipp("uas_bad_response.xml") as peer:
        failure = _dial_failure(endpoint, peer.uri)
    assert failure.disposition == "no_answer"
    assert any("CSeq" in r.getMessage() or "parse" in r.getMessage().lower() for r in caplog.records)
    with sipp(None, rtp_echo=True) as peer:
        call = run_until(endpoint.dial(peer.uri))
        assert run_until(call.hangup(), 5).hangup_by == "bot"


def test_dial_bursts_and_capacity_are_refused_not_fatal(endpoint: Any) -> None:
    """40 dials at once and more calls than pjsua has slots: every dial gets a disposition, none aborts."""
    with sipp("uas_reject.xml", params={"code": "486", "reason": "Busy Here"}) as peer:
        outcomes: list[DialFailure] = []
        for _ in range(40):
            with pytest.raises(DialFailure) as info:
                run_until(endpoint.dial(peer.uri), 5)
            outcomes.append(info.value)
    kinds = {(f.disposition, f.sip_code) for f in outcomes}
    assert ("busy", 486) in kinds, {f.reason for f in outcomes}
    assert kinds <= {("busy", 486), ("trunk_error", None)}
    assert all("burst" in f.reason and isinstance(f, EndpointBusy) for f in outcomes if f.disposition == "trunk_error")
    from reactor_wait import spin

    spin(0.7)  # let pjlib hand back the socket slots of the burst
    with sipp("uas_echo.xml", rtp_echo=True) as peer:
        free = endpoint.free_call_slots  # an unanswered INVITE of an earlier test may still hold one
        assert 1 <= free <= endpoint.max_calls
        calls = [run_until(endpoint.dial(peer.uri)) for _ in range(free)]
        with pytest.raises(DialFailure) as over:
            run_until(endpoint.dial(peer.uri))
        for call in calls:
            run_until(call.hangup(), 5)
        for _ in range(100):  # slots come back once the peer has answered our BYEs
            if endpoint.free_call_slots == free:
                break
            spin(0.05)
        assert endpoint.free_call_slots == free
    assert over.value.disposition == "trunk_error" and "limit" in over.value.reason
    assert isinstance(over.value, EndpointBusy)  # refused locally: the dialer may requeue it


def test_transport_failure_is_a_trunk_error(endpoint: Any) -> None:
    """A trunk that refuses the TCP connection fails the dial at once as trunk_error with a 5xx code."""
    from sip_peers import free_udp_port

    wait_for_free_slot(endpoint)
    closed = free_udp_port()  # nothing listens on TCP there either (bind-probed on UDP, closed at once)
    failure = _dial_failure(endpoint, f"sip:13800138000@127.0.0.1:{closed};transport=tcp", timeout=8)
    assert failure.disposition == "trunk_error"
    assert failure.sip_code is not None and 500 <= failure.sip_code < 600


def wait_for_free_slot(endpoint: Any, timeout: float = 5.0) -> None:
    """Hung-up calls keep their pjsua slot until the BYE is answered; wait for one to come back."""
    from reactor_wait import spin

    for _ in range(int(timeout / 0.05)):
        if endpoint.free_call_slots:
            return
        spin(0.05)
    raise AssertionError("no pjsua call slot came free")


def test_answer_crossing_our_cancel_is_hung_up(endpoint: Any) -> None:
    """A 200 OK that arrives after the ring timeout's CANCEL: the dial stays no_answer and we send BYE."""
    from reactor_wait import spin

    with sipp("uas_answer_after_cancel.xml", calls=1) as peer:
        failure = _dial_failure(endpoint, peer.uri, timeout=10)
        for _ in range(100):
            if peer.proc.poll() is not None:
                break
            spin(0.05)
        assert peer.proc.poll() == 0, peer.output()  # sipp saw our ACK and BYE for the crossed answer
    assert failure.disposition == "no_answer" and failure.reason == "ring timeout"

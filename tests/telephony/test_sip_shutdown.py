"""Stopping the endpoint with calls in flight, and starting a new one in the same process."""

from __future__ import annotations

from pathlib import Path

import pytest
from reactor_wait import run_until, spin
from sip_config import make_config
from sip_peers import sipp
from twisted.internet import reactor
from twisted.python.failure import Failure

from telephony.dispositions import DialFailure
from telephony.endpoint import SipEndpoint
from telephony.events import CallEnded

pytestmark = pytest.mark.integration


def test_stop_with_calls_in_flight_then_restart(tmp_path: Path) -> None:
    """stop() ends an answered call (endpoint_stopped) and an unanswered one (canceled); a new endpoint works."""
    ep = SipEndpoint(make_config(tmp_path, ring_timeout_s=30), reactor)
    run_until(ep.start())
    ended: list[CallEnded] = []
    failures: list[DialFailure] = []
    with sipp("uas_echo.xml", rtp_echo=True) as talker, sipp("uas_silent.xml") as silent:
        call = run_until(ep.dial(talker.uri, record_path=tmp_path / "r.wav"))
        call.add_event_listener(lambda e: ended.append(e) if isinstance(e, CallEnded) else None)
        call.playback.enqueue(b"\x10\x00" * 8000)
        pending = ep.dial(silent.uri)
        def record_failure(failure: Failure) -> None:
            failures.append(failure.value)  # type: ignore[arg-type]

        pending.addErrback(record_failure)
        spin(0.5)
        with pytest.raises(RuntimeError, match="another SipEndpoint"):
            run_until(SipEndpoint(make_config(tmp_path), reactor).start())
        run_until(ep.stop(), 10)
    assert [e.reason for e in ended] == ["endpoint_stopped"] and ended[0].hangup_by == "bot"
    assert [f.disposition for f in failures] == ["canceled"]
    assert (tmp_path / "r.wav").exists()
    with pytest.raises(RuntimeError, match="not started"):
        run_until(ep.dial(talker.uri))

    again = SipEndpoint(make_config(tmp_path), reactor)
    run_until(again.start())
    try:
        with (
            sipp("uas_reject.xml", params={"code": "404", "reason": "Not Found"}) as peer,
            pytest.raises(DialFailure) as info,
        ):
            run_until(again.dial(peer.uri))
        assert info.value.disposition == "invalid_number"
    finally:
        run_until(again.stop())


def test_unanswered_bye_still_ends_the_call_promptly(tmp_path: Path) -> None:
    """A peer that never answers our BYE: the call is over for us at once (pjsip finishes the BYE alone)."""
    import time

    endpoint = SipEndpoint(make_config(tmp_path), reactor)
    run_until(endpoint.start())
    try:
        with sipp("uas_deaf_bye.xml", "-default_behaviors", "none") as peer:
            call = run_until(endpoint.dial(peer.uri))
            started = time.monotonic()
            ended: CallEnded = run_until(call.hangup(), 10)
            elapsed = time.monotonic() - started
            # pjsua keeps the slot until the BYE times out (32 s); the dialer sees it through free_call_slots.
            assert endpoint.free_call_slots == endpoint.max_calls - 1
    finally:
        run_until(endpoint.stop(), 10)  # must not hang or abort on the pending BYE
    assert ended.reason == "local_hangup" and ended.hangup_by == "bot"
    assert elapsed < 1.0

"""Media hand-off to the reactor: one wake-up per batch of frames, the SIP poll re-armed around it, frames reused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sip_config import make_config
from twisted.internet.task import Clock

from telephony import endpoint as endpoint_module
from telephony.endpoint import SipEndpoint
from telephony.media import FrameRelay, FrameVector, vector_bytes


class Sink:
    def __init__(self) -> None:
        self.pairs: list[tuple[bytes, bytes]] = []

    def __call__(self, bot: bytes, borrower: bytes) -> None:
        self.pairs.append((bot, borrower))


def test_one_wake_for_frames_pushed_before_the_drain() -> None:
    """Frames of several calls pushed before the reactor runs wake it once; after a drain the next push wakes again."""
    wakes: list[int] = []
    relay = FrameRelay(wake=lambda: wakes.append(1))
    a, b = Sink(), Sink()
    relay.push(a, b"a1", b"A1")
    relay.push(b, b"b1", b"B1")
    relay.push(a, b"a2", b"A2")
    assert len(wakes) == 1
    assert relay.drain() == 3
    assert a.pairs == [(b"a1", b"A1"), (b"a2", b"A2")] and b.pairs == [(b"b1", b"B1")]
    relay.push(b, b"b2", b"B2")
    assert len(wakes) == 2 and relay.wakes == 2


def test_frame_pushed_during_a_drain_is_not_stranded() -> None:
    """A frame that arrives while a drain runs is delivered by that drain or wakes the reactor again."""
    wakes: list[int] = []
    relay = FrameRelay(wake=lambda: wakes.append(1))
    late = Sink()

    def sink(bot: bytes, borrower: bytes) -> None:
        relay.push(late, b"late", b"LATE")  # what the media thread may do mid-drain

    relay.push(sink, b"x", b"X")
    relay.drain()
    assert late.pairs == [(b"late", b"LATE")] or len(wakes) == 2
    relay.drain()
    assert late.pairs == [(b"late", b"LATE")] and len(relay) == 0


def test_relay_without_wake_only_queues() -> None:
    """Without a wake callback (a polling owner) frames wait until drained, as before."""
    relay = FrameRelay()
    sink = Sink()
    relay.push(sink, b"a", b"b")
    assert sink.pairs == [] and len(relay) == 1
    relay.drain()
    assert sink.pairs == [(b"a", b"b")]


def test_frame_vector_is_refilled_in_place() -> None:
    """FrameVector hands out one vector holding exactly the last frame; other sizes still convert correctly."""
    vec = FrameVector(320)
    first = bytes(range(256)) + bytes(64)
    second = bytes(reversed(first))
    v1 = vec.filled(first)
    assert vector_bytes(v1) == first
    v2 = vec.filled(second)
    assert vector_bytes(v2) == second
    odd = b"\x01\x02\x03"
    assert vector_bytes(vec.filled(odd)) == odd


class FakeLibrary:
    """Stands in for pjsua2.Endpoint in the poll logic: counts polls."""

    def __init__(self) -> None:
        self.polls = 0

    def libHandleEvents(self, msec: int) -> int:
        self.polls += 1
        return 0


class ThreadClock(Clock):
    """task.Clock plus callFromThread that queues, like a reactor's thread queue, until `run_thread_calls`."""

    def __init__(self) -> None:
        super().__init__()
        self.thread_calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.thread_calls.append((f, args))

    def run_thread_calls(self) -> None:
        calls, self.thread_calls = self.thread_calls, []
        for f, args in calls:
            f(*args)


def polled_endpoint(tmp_path: Path) -> tuple[SipEndpoint, ThreadClock, FakeLibrary]:
    clock = ThreadClock()
    ep = SipEndpoint(make_config(tmp_path), clock)
    lib = FakeLibrary()
    ep._ep = lib
    ep._poll()
    return ep, clock, lib


def test_sip_is_polled_every_interval_without_media(tmp_path: Path) -> None:
    """With no media frames the endpoint polls SIP once per POLL_INTERVAL_S (20 ms), not every 5 ms."""
    _ep, clock, lib = polled_endpoint(tmp_path)
    for _ in range(1000):  # one second in 1 ms steps
        clock.advance(0.001)
    assert 50 <= lib.polls <= 52
    assert len(clock.getDelayedCalls()) == 1


def test_media_frames_drive_the_poll_and_push_the_timer_back(tmp_path: Path) -> None:
    """A media tick wakes one poll that drains its frames; the timer then waits 1.5 ticks instead of racing the next."""
    ep, clock, lib = polled_endpoint(tmp_path)
    sink = Sink()
    for tick in range(10):
        ep.relay.push(sink, b"bot", b"borrower")
        ep.relay.push(sink, b"bot2", b"borrower2")  # a second call's frame in the same tick
        assert len(clock.thread_calls) == 1
        clock.run_thread_calls()
        assert len(sink.pairs) == 2 * (tick + 1)
        assert len(clock.getDelayedCalls()) == 1
        assert abs(ep._poller.getTime() - clock.seconds() - endpoint_module.MEDIA_POLL_SLACK_S) < 1e-9
        clock.advance(0.02)  # the next tick comes before the timer
    assert lib.polls == 1 + 10  # start + one per tick, none from the timer
    clock.advance(endpoint_module.MEDIA_POLL_SLACK_S)  # media stops: the timer takes over
    assert lib.polls == 12


def test_no_poll_after_the_library_is_gone(tmp_path: Path) -> None:
    """A media wake that lands after stop() does nothing and arms no timer."""
    ep, clock, lib = polled_endpoint(tmp_path)
    ep.relay.push(Sink(), b"a", b"b")
    ep._poller.cancel()
    ep._poller = None
    ep._ep = None
    clock.run_thread_calls()
    assert lib.polls == 1 and clock.getDelayedCalls() == []

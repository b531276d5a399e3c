"""Bot frames against their 20 ms deadlines: on-time ticks, a late first tick, a stall caught up, a stall skipped."""

from __future__ import annotations

from telephony.media import BotFrameTally, FrameDeadlines


class Ticks:
    """A media clock that hands frames at the given times (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _hand(times: list[float]) -> BotFrameTally:
    tally, clock = BotFrameTally(), Ticks()
    deadlines = FrameDeadlines(tally, clock)
    for t in times:
        clock.now = t
        deadlines.handed()
    return tally


def test_frames_on_the_tick_with_jitter_are_not_late() -> None:
    """Frames within a frame time of their tick (jitter up to 19 ms) are on time."""
    times = [1.0 + n * 0.02 + (0.019 if n % 7 == 3 else 0.002 * (n % 3)) for n in range(100)]
    tally = _hand(times)
    assert (tally.frames, tally.late) == (100, 0)


def test_a_late_first_tick_does_not_make_the_rest_late() -> None:
    """The anchor moves to the best lag seen: after a first frame 30 ms late, on-time frames are not late."""
    times = [1.030] + [1.0 + n * 0.02 for n in range(1, 50)]
    times[30] += 0.025  # and one late frame later on is still seen against the better anchor
    tally = _hand(times)
    assert (tally.frames, tally.late) == (50, 1)


def test_a_stall_caught_up_in_a_burst_counts_the_frames_past_their_deadline() -> None:
    """A 100 ms stall then a burst: the frames handed over 20 ms past their due time are late, then none."""
    times = [n * 0.02 for n in range(10)]  # due 0.00 .. 0.18, on time
    times += [0.30 + k * 0.001 for k in range(6)]  # frames 10..15 (due 0.20..0.30) all at ~0.30
    times += [n * 0.02 for n in range(16, 40)]  # on time again
    tally = _hand(times)
    # frame 10 due 0.20 handed 0.300 (100 ms), 11: 0.301 vs 0.22, 12: 0.302 vs 0.24, 13: 0.303 vs 0.26 -> late;
    # 14: 0.304 vs 0.28 (24 ms) late; 15: 0.305 vs 0.30 on time.
    assert (tally.frames, tally.late) == (40, 5)


def test_frames_the_clock_skipped_after_a_long_stall_count_as_late() -> None:
    """A 1 s stall that pjmedia gives up on: the frames never sent count as late, the schedule moves past them."""
    times = [n * 0.02 for n in range(10)]
    times += [1.2 + k * 0.02 for k in range(20)]  # frame 10 was due 0.20 and is handed 1.0 s late
    tally = _hand(times)
    assert tally.frames == 30 + 50
    assert tally.late == 1 + 50


def test_ports_of_one_endpoint_add_to_one_tally() -> None:
    """Two calls' ports write into the endpoint's tally; each keeps its own schedule."""
    tally, clock = BotFrameTally(), Ticks()
    a, b = FrameDeadlines(tally, clock), FrameDeadlines(tally, clock)
    for n in range(10):
        clock.now = n * 0.02
        a.handed()
        clock.now = 5.0 + n * 0.02 + (0.05 if n == 9 else 0.0)
        b.handed()
    assert (tally.frames, tally.late) == (20, 1)

"""The playback queue hands frames out in order and stops within one frame on a cut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telephony.playback import PlaybackQueue

FRAME = 320


def immediate(fn: Callable[..., Any], *args: Any) -> None:
    fn(*args)


def test_frames_in_order_then_silence() -> None:
    """Two prompts play back to back, padded to whole frames, then silence follows."""
    q = PlaybackQueue(FRAME, immediate)
    done: list[tuple[int, bool]] = []
    q.enqueue(b"\x01" * (FRAME * 2), on_done=lambda n, i: done.append((n, i)))
    q.enqueue(b"\x02" * (FRAME + 10), on_done=lambda n, i: done.append((n, i)))
    frames = [q.pull() for _ in range(5)]
    assert frames[0][0] == 1 and frames[1][0] == 1 and frames[2][0] == 2
    assert frames[3][:10] == b"\x02" * 10 and frames[3][10:] == b"\x00" * (FRAME - 10)
    assert frames[4] == b"\x00" * FRAME
    assert done == [(2, False), (2, False)]
    assert q.idle


def test_cut_stops_within_one_frame() -> None:
    """After cut() the very next pulled frame is silence and the prompt reports what it played."""
    q = PlaybackQueue(FRAME, immediate)
    started: list[bool] = []
    done: list[tuple[int, bool]] = []
    q.enqueue(b"\x05" * FRAME * 50, on_start=lambda: started.append(True), on_done=lambda n, i: done.append((n, i)))
    for _ in range(7):
        q.pull()
    q.cut()
    assert q.pull() == b"\x00" * FRAME
    assert started == [True] and done == [(7, True)]

"""Bot audio waiting to go out on one call, pulled a frame at a time by the media clock.

This is the hand-off between the reactor (which enqueues rendered prompts) and pjsua2's media
thread (which pulls one 20 ms frame per tick). The lock is held only to move a few references, so
the media thread never waits on application work. Callbacks are handed to `notify` (in production
`reactor.callFromThread`) so they run on the reactor, never on the media thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Notify = Callable[..., object]


@dataclass
class PlaybackItem:
    """One prompt in the queue; `frames_played` is how many of its frames went out."""

    frames: list[bytes]
    on_start: Callable[[], None] | None = None
    on_done: Callable[[int, bool], None] | None = None  # (frames_played, interrupted)
    frames_played: int = 0
    interrupted: bool = False
    finished: bool = field(default=False)

    @property
    def total_frames(self) -> int:
        return len(self.frames)


class PlaybackQueue:
    """FIFO of prompts; `cut()` stops the current one before the next media tick (barge-in)."""

    def __init__(self, frame_bytes: int, notify: Notify) -> None:
        self.frame_bytes = frame_bytes
        self._silence = b"\x00" * frame_bytes
        self._notify = notify
        self._lock = threading.Lock()
        self._items: deque[PlaybackItem] = deque()

    def enqueue(
        self,
        pcm: bytes,
        on_start: Callable[[], None] | None = None,
        on_done: Callable[[int, bool], None] | None = None,
    ) -> PlaybackItem:
        """Queue 16-bit PCM at the call's rate; the tail is zero-padded to a whole frame."""
        n = self.frame_bytes
        if len(pcm) % n:
            pcm = pcm + b"\x00" * (n - len(pcm) % n)
        item = PlaybackItem([pcm[i : i + n] for i in range(0, len(pcm), n)], on_start, on_done)
        with self._lock:
            self._items.append(item)
        return item

    def cut(self) -> list[PlaybackItem]:
        """Drop everything not yet played; the next pulled frame is silence."""
        with self._lock:
            dropped = list(self._items)
            self._items.clear()
        for item in dropped:
            self._finish(item, interrupted=True)
        return dropped

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._items

    def pull(self) -> bytes:
        """Media-thread side: the next frame to send, or silence when nothing is queued."""
        with self._lock:
            while self._items and self._items[0].frames_played >= self._items[0].total_frames:
                done = self._items.popleft()
                self._finish(done, interrupted=False)
            if not self._items:
                return self._silence
            item = self._items[0]
            frame = item.frames[item.frames_played]
            item.frames_played += 1
            first = item.frames_played == 1
            last = item.frames_played >= item.total_frames
            if last:
                self._items.popleft()
        if first and item.on_start is not None:
            self._notify(item.on_start)
        if last:
            self._finish(item, interrupted=False)
        return frame

    def _finish(self, item: PlaybackItem, interrupted: bool) -> None:
        if item.finished:
            return
        item.finished = True
        item.interrupted = interrupted
        if item.on_done is not None:
            self._notify(item.on_done, item.frames_played, interrupted)

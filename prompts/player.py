"""Rendered prompts into a call's playback queue, with barge-in that respects legal disclosures.

The queue is drained by pjsua2's media clock; this class lives on the reactor. Barge-in is the
urgent control path: an interruptible prompt is cut so the very next media tick is silence (within
one 20 ms frame). A non-interruptible prompt (a recording notice, a legal disclosure) is not cut;
`barge_in()` says so, and the `PromptFinished` that follows carries `held_barge_in=True` so the
caller knows the borrower's words (captured meanwhile by ASR) are still waiting for an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from twisted.internet.defer import Deferred

from pcm.frames import FRAME_MS, bytes_per_frame
from prompts.events import PromptFinished, PromptInterrupted, PromptStarted
from prompts.renderer import RenderedPrompt
from telephony.playback import PlaybackItem, PlaybackQueue

PromptOutcome = PromptFinished | PromptInterrupted


class ReactorClock(Protocol):
    """The one thing the player needs from the reactor (a `task.Clock` in tests)."""

    def seconds(self) -> float: ...


@dataclass
class _Playing:
    node: str
    interruptible: bool
    item: PlaybackItem
    done: Deferred[PromptOutcome]
    held_barge_in: bool = False


class PromptPlayer:
    """One per call; every queued prompt goes through it so barge-in knows what is playing."""

    def __init__(
        self,
        queue: PlaybackQueue,
        reactor: ReactorClock,
        on_first_frame: Callable[[PromptStarted], None] | None = None,
    ) -> None:
        self.queue = queue
        self.reactor = reactor
        self.on_first_frame = on_first_frame
        self._playing: list[_Playing] = []

    def play(
        self,
        rendered: RenderedPrompt,
        interruptible: bool | None = None,
        on_start: Callable[[PromptStarted], None] | None = None,
    ) -> Deferred[PromptOutcome]:
        """Queue a prompt; `interruptible` defaults to the prompt's own flag from the script.

        `on_start` fires for this prompt's first frame only (after the player-wide `on_first_frame`),
        so a caller with several prompts queued need not work out which one started.
        """
        if bytes_per_frame(rendered.rate) != self.queue.frame_bytes:
            raise ValueError(
                f"prompt rendered at {rendered.rate} Hz but the call's queue takes "
                f"{self.queue.frame_bytes}-byte frames; render at the call's rate"
            )
        flag = rendered.interruptible if interruptible is None else interruptible
        done: Deferred[PromptOutcome] = Deferred()
        node = rendered.node
        entry: _Playing | None = None

        def started() -> None:
            event = PromptStarted(node, self.reactor.seconds())
            if self.on_first_frame is not None:
                self.on_first_frame(event)
            if on_start is not None:
                on_start(event)

        def on_done(frames_played: int, interrupted: bool) -> None:
            assert entry is not None
            if entry in self._playing:
                self._playing.remove(entry)
            total = entry.item.total_frames
            ms = frames_played * FRAME_MS
            result: PromptOutcome
            if interrupted:
                result = PromptInterrupted(node, frames_played, total, ms)
            else:
                result = PromptFinished(node, frames_played, total, ms, entry.held_barge_in)
            done.callback(result)

        item = self.queue.enqueue(rendered.pcm(), started, on_done)
        entry = _Playing(node, flag, item, done)
        self._playing.append(entry)
        return done

    def barge_in(self) -> bool:
        """The borrower started talking: True if playback was cut, False if it keeps playing
        (nothing playing, or the current prompt is non-interruptible)."""
        current = self._current()
        if current is None:
            return False
        if not current.interruptible:
            current.held_barge_in = True
            return False
        self.queue.cut()
        return True

    def stop(self) -> None:
        """Cut everything regardless of flags (the call is ending or being transferred)."""
        self.queue.cut()

    @property
    def speaking(self) -> bool:
        return self._current() is not None

    def _current(self) -> _Playing | None:
        # on_done reaches us via the reactor, so an item may be fully played a moment before we hear
        for entry in self._playing:
            if not entry.item.finished and entry.item.frames_played < entry.item.total_frames:
                return entry
        return None

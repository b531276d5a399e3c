"""Adapters from the session's ports to `prompts/`: rendering off the reactor, playback with barge-in."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.python.threadpool import ThreadPool

from dialogue.prompt import Fragment, Prompt
from prompts.events import PromptFinished, PromptInterrupted, PromptStarted
from prompts.player import PromptPlayer, ReactorClock
from prompts.renderer import PromptRenderer, RenderedPrompt
from session.ports import BotAudio, Played
from telephony.playback import PlaybackQueue


def prompt_parts(prompt: Prompt) -> tuple[str, ...]:
    """Fragment ids and `$variable` names in spoken order: what the compliance audit reads."""
    return tuple(p.id if isinstance(p, Fragment) else "$" + p.name for p in prompt.parts)


class RenderedPrompts:
    """`PromptSource` over the real renderer: warm prompts inline (a few ms), cold ones on the pool."""

    def __init__(self, renderer: PromptRenderer, rate: int, reactor: Any, pool: ThreadPool | None) -> None:
        self._renderer = renderer
        self._rate = rate
        self._reactor = reactor
        self._pool = pool

    def render(self, prompt: Prompt) -> Deferred[BotAudio]:
        parts = prompt_parts(prompt)
        if self._pool is None or self._renderer.is_warm(prompt, self._rate):
            rendered = self._renderer.render(prompt, self._rate)
            return succeed(_audio(rendered, parts))
        d = self._renderer.render_in_thread(prompt, self._rate, self._reactor, self._pool)
        return d.addCallback(_audio, parts)


def _audio(rendered: RenderedPrompt, parts: tuple[str, ...]) -> BotAudio:
    return BotAudio(payload=rendered, frames=rendered.frame_count, text=rendered.text, parts=parts)


class _Pending:
    __slots__ = ("on_start",)

    def __init__(self, on_start: Callable[[], None]) -> None:
        self.on_start = on_start

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


class PlayerVoice:
    """`BotVoice` over `PromptPlayer`, routing its one first-frame callback to the right prompt.

    Start and done notices arrive on the reactor in the order the media thread produced them, and
    prompts start in queue order, so the oldest prompt that has neither started nor finished is the
    one a `PromptStarted` belongs to.
    """

    def __init__(self, queue: PlaybackQueue, reactor: ReactorClock) -> None:
        self.player = PromptPlayer(queue, reactor, on_first_frame=self._started)
        self._waiting: deque[_Pending] = deque()

    def play(self, audio: BotAudio, interruptible: bool, on_start: Callable[[], None]) -> Deferred[Played]:
        rendered = audio.payload
        if not isinstance(rendered, RenderedPrompt):
            raise TypeError(f"PlayerVoice plays rendered prompts, not {type(rendered).__name__}")
        entry = _Pending(on_start)
        self._waiting.append(entry)

        def done(outcome: PromptFinished | PromptInterrupted) -> Played:
            if any(e is entry for e in self._waiting):
                self._waiting.remove(entry)
            return Played(outcome.frames_played, isinstance(outcome, PromptInterrupted))

        return self.player.play(rendered, interruptible).addCallback(done)

    def _started(self, event: PromptStarted) -> None:
        if self._waiting:
            self._waiting.popleft().on_start()

    def barge_in(self) -> bool:
        return self.player.barge_in()

    def stop(self) -> None:
        self.player.stop()

"""Adapters from the session's ports to `prompts/`: rendering off the reactor, playback with barge-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.python.threadpool import ThreadPool

from dialogue.prompt import Fragment, Prompt
from prompts.events import PromptFinished, PromptInterrupted
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


class PlayerVoice:
    """`BotVoice` over `PromptPlayer`: the player's per-prompt `on_start` is the latency end point."""

    def __init__(self, queue: PlaybackQueue, reactor: ReactorClock) -> None:
        self.player = PromptPlayer(queue, reactor)

    def play(self, audio: BotAudio, interruptible: bool, on_start: Callable[[], None]) -> Deferred[Played]:
        rendered = audio.payload
        if not isinstance(rendered, RenderedPrompt):
            raise TypeError(f"PlayerVoice plays rendered prompts, not {type(rendered).__name__}")

        def done(outcome: PromptFinished | PromptInterrupted) -> Played:
            return Played(outcome.frames_played, isinstance(outcome, PromptInterrupted))

        d = self.player.play(rendered, interruptible, on_start=lambda _: on_start())
        return d.addCallback(done)

    def barge_in(self) -> bool:
        return self.player.barge_in()

    def stop(self) -> None:
        self.player.stop()

"""Fakes with the same shape as the session's ports, driven by a `task.Clock`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from prompts.renderer import RenderedPrompt
from session.call_session import CallSession, SessionSettings
from session.ports import BotAudio, Understanding
from session.voice import PlayerVoice
from telephony.playback import PlaybackQueue

FRAME_BYTES = 320  # 20 ms at 8 kHz


class ScriptedConversation:
    """Answers each input with the next scripted `Understanding`; records what it was told."""

    def __init__(self, opening: Understanding, replies: list[Understanding]) -> None:
        self.opening = opening
        self.replies = list(replies)
        self.heard: list[tuple[str, Any]] = []
        self.fail_on_utterance = False

    def _next(self, kind: str, value: Any) -> Understanding:
        self.heard.append((kind, value))
        if not self.replies:
            raise AssertionError(f"no scripted reply left for {kind} {value!r}")
        return self.replies.pop(0)

    def start(self) -> Understanding:
        return self.opening

    def on_utterance(self, text: str, confidence: float | None) -> Understanding:
        if self.fail_on_utterance:
            raise KeyError("node 'ask_date' has no transition")
        return self._next("utterance", text)

    def on_no_input(self) -> Understanding:
        return self._next("no_input", None)

    def on_dtmf(self, digit: str) -> Understanding:
        return self._next("dtmf", digit)

    def on_machine(self) -> Understanding:
        return self._next("machine", None)

    def on_transfer_failed(self, reason: str) -> None:
        self.heard.append(("transfer_failed", reason))

    def outcome(self) -> dict[str, Any] | None:
        return {"disposition": "test", "inputs": len(self.heard)}


class FramePrompts:
    """Renders a prompt named `'<text>:<frames>'` into that many frames of a constant tone-ish PCM."""

    def __init__(self) -> None:
        self.broken: set[str] = set()

    def render(self, prompt: Any) -> Deferred[BotAudio]:
        text, frames = str(prompt).rsplit(":", 1)
        if text in self.broken:
            return fail(FileNotFoundError(f"fragment {text!r} has no recording"))
        samples = np.full((FRAME_BYTES // 2) * int(frames), 16, dtype=np.int16)
        rendered = RenderedPrompt(
            samples=samples, rate=8000, parts=(), node="n", interruptible=True, text=text,
            variables_cached=0, variables_synthesized=0, render_ms=0.0,
        )
        return succeed(BotAudio(payload=rendered, frames=int(frames), text=text, parts=(text,)))


class RecordingFeed:
    def __init__(self) -> None:
        self.frames = 0
        self.speaking: list[tuple[bool, bool]] = []
        self.closed = False

    def push(self, frame: bytes, t: float) -> None:
        self.frames += 1

    def bot_speaking(self, speaking: bool, interruptible: bool) -> None:
        self.speaking.append((speaking, interruptible))

    def close(self) -> None:
        self.closed = True


class RecordingControl:
    def __init__(self) -> None:
        self.hangups = 0
        self.transfers: list[str] = []
        self.transfer_error: Exception | None = None  # set: the REFER fails with this

    def hangup(self) -> Deferred[Any]:
        self.hangups += 1
        return succeed(None)

    def transfer(self, uri: str) -> Deferred[Any]:
        self.transfers.append(uri)
        return fail(self.transfer_error) if self.transfer_error is not None else succeed(None)


class Harness:
    """One session on a fake clock; `tick()` is one 20 ms media period in both directions."""

    def __init__(
        self,
        conversation: ScriptedConversation,
        settings: SessionSettings | None = None,
        on_latency: Callable[[Any], None] | None = None,
    ) -> None:
        self.clock = Clock()
        self.clock.advance(1000.0)  # reactor time is not call time
        self.answered_at = self.clock.seconds()
        self.queue = PlaybackQueue(FRAME_BYTES, lambda fn, *a: fn(*a))
        self.conversation = conversation
        self.prompts = FramePrompts()
        self.feed = RecordingFeed()
        self.control = RecordingControl()
        self.session = CallSession(
            call_id="c1",
            reactor=self.clock,
            control=self.control,
            voice=PlayerVoice(self.queue, self.clock),
            conversation=conversation,
            prompts=self.prompts,
            settings=settings or SessionSettings(no_input_timeout_s=5.0, max_call_seconds=120.0),
            on_latency=on_latency,
        )
        self.sent: list[bytes] = []
        self.result: Any = None

    def start(self) -> None:
        self.session.start(self.feed).addCallback(lambda r: setattr(self, "result", r))

    @property
    def t(self) -> float:
        return self.clock.seconds() - self.answered_at

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.clock.advance(0.02)
            self.session.frame_received(b"\x00" * FRAME_BYTES, self.t)
            self.sent.append(self.queue.pull())

    def silence_sent(self, last: int) -> bool:
        return all(f == b"\x00" * FRAME_BYTES for f in self.sent[-last:])

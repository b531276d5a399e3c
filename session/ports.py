"""The seams of one conversation, as small Protocols the session is written against.

The session never imports concrete telephony/asr/dialogue/prompts classes here; `session.wiring`
adapts the real ones to these ports and tests plug in fakes that keep the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred


class DelayedCall(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class ReactorTime(Protocol):
    """The slice of `IReactorTime` the session uses (a `task.Clock` in tests)."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> DelayedCall: ...


@dataclass(frozen=True)
class BotAudio:
    """A prompt ready to play, plus what the call record and the compliance audit need about it."""

    payload: Any  # what the voice plays (a `prompts.renderer.RenderedPrompt` in production)
    frames: int
    text: str  # what the borrower hears, for the call record (never logged unmasked)
    parts: tuple[str, ...] = ()  # fragment ids and `$variable` names, for the compliance audit


@dataclass(frozen=True)
class Played:
    frames_played: int
    interrupted: bool


class BotVoice(Protocol):
    """Playback with barge-in on the call's media bridge (`prompts.player.PromptPlayer` in production)."""

    def play(self, audio: BotAudio, interruptible: bool, on_start: Callable[[], None]) -> Deferred[Played]: ...

    def barge_in(self) -> bool:
        """Cut the current prompt if it may be interrupted; True when it was cut."""

    def stop(self) -> None:
        """Cut everything, whatever the flags (the call is ending)."""


@dataclass(frozen=True)
class Say:
    """Play a prompt; `node` is the dialogue node that chose it."""

    prompt: Any
    node: str
    interruptible: bool = True


@dataclass(frozen=True)
class EndCall:
    """Hang up, after `farewell` (if any) has played."""

    reason: str
    farewell: Say | None = None


@dataclass(frozen=True)
class TransferCall:
    """Blind-transfer to a human agent, after `announcement` (if any) has played."""

    uri: str | None
    reason: str = "transferred"
    announcement: Say | None = None


@dataclass(frozen=True)
class Listen:
    """Say nothing and keep listening (the no-input timer keeps running)."""


BotMove = Say | EndCall | TransferCall | Listen


@dataclass(frozen=True)
class Understanding:
    """What the dialogue made of one input, for the turn record."""

    move: BotMove
    intent: str | None = None
    confidence: float | None = None
    identity_confirmed: bool | None = None


class Conversation(Protocol):
    """The dialogue for one call, already bound to its borrower."""

    def start(self) -> Understanding: ...

    def on_utterance(self, text: str, confidence: float | None) -> Understanding: ...

    def on_no_input(self) -> Understanding: ...

    def on_dtmf(self, digit: str) -> Understanding: ...

    def on_machine(self) -> Understanding: ...

    def on_transfer_failed(self, reason: str) -> None:
        """The transfer the dialogue asked for did not happen: its outcome must not say `transferred`."""
        ...

    def outcome(self) -> dict[str, Any] | None: ...


class PromptSource(Protocol):
    """Turns a dialogue prompt into audio; slow work must happen off the reactor."""

    def render(self, prompt: Any) -> Deferred[BotAudio]: ...


class SpeechListener(Protocol):
    """The session side of speech input: asr events arrive here (reactor thread)."""

    def speech_started(self, t: float) -> None: ...

    def speech_ended(self, t: float) -> None: ...

    def partial(self, text: str, t: float) -> None: ...

    def final(self, text: str, confidence: float | None, t: float) -> None: ...

    def barge_in(self, t: float) -> None: ...

    def likely_machine(self, t: float) -> None: ...


class SpeechFeed(Protocol):
    """The asr side: frames in, and whether the bot is talking (it decides barge-in)."""

    def push(self, frame: bytes, t: float) -> None: ...

    def bot_speaking(self, speaking: bool, interruptible: bool) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ConversationEnded:
    """The conversation part of a call record; the runner adds the SIP facts."""

    end_reason: str
    hangup_by: str | None
    turns: tuple[Any, ...] = ()
    outcome: dict[str, Any] | None = None
    likely_machine: bool = False
    dtmf: str = ""
    transfer_uri: str | None = None
    errors: tuple[str, ...] = field(default=())

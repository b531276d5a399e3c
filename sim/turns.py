"""When the simulated borrower talks: turn-taking from the bot's received audio, with no SIP in sight.

Kept apart from the pjsua2 process so the timing rules (reply gap, talking over the bot, answering
straight away like a voicemail greeting) can be tested frame by frame against a `task.Clock`.
All methods run on the reactor thread.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import webrtcvad

from sim.personas import Persona, PersonaLine

FRAME_S = 0.02


class Timer(Protocol):
    """What `callLater` returns (twisted's IDelayedCall), as a structural type mypy can check."""

    def active(self) -> bool: ...
    def cancel(self) -> None: ...


class Clock(Protocol):
    """The slice of IReactorTime used here; a reactor or `twisted.internet.task.Clock`."""

    def seconds(self) -> float: ...
    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> Timer: ...


@dataclass(frozen=True)
class BotSpeechStarted:
    t: float  # call time of the first voiced frame


@dataclass(frozen=True)
class BotSpeechEnded:
    t: float  # call time just after the last voiced frame


@dataclass(frozen=True)
class LineStarted:
    index: int
    text: str
    when: str
    t: float
    bot_speaking: bool  # True: the borrower starts while the bot is still talking


@dataclass(frozen=True)
class LineFinished:
    index: int
    t: float


@dataclass(frozen=True)
class HangingUp:
    reason: str
    t: float


TurnEvent = BotSpeechStarted | BotSpeechEnded | LineStarted | LineFinished | HangingUp


class BotSpeechDetector:
    """Voiced/unvoiced per 20 ms frame: webrtcvad plus an energy floor so line noise never counts."""

    def __init__(self, rate: int, mode: int = 2, floor_dbfs: float = -45.0) -> None:
        self.rate = rate
        self._vad = webrtcvad.Vad(mode)
        self._floor = 32768.0 * 10 ** (floor_dbfs / 20)

    def __call__(self, frame: bytes) -> bool:
        samples = np.frombuffer(frame, "<i2").astype(np.float64)
        if samples.size == 0 or float(np.sqrt(np.mean(samples * samples))) < self._floor:
            return False
        return bool(self._vad.is_speech(frame, self.rate))


def _say_nothing(index: int, line: PersonaLine) -> None:
    return None


def _ignore(_: object) -> None:
    return None


class TurnTaker:
    """Decides, from the bot's audio, when the persona says its next line.

    A reply comes once the bot has been silent for the turn's reply gap (drawn from the persona
    book's range, ~250-400 ms, like a person who waits for the other side to finish). `during_bot`
    lines start a fixed delay into a bot prompt, to exercise barge-in; `on_answer` lines start a fixed
    delay after answer whatever the bot does, like a voicemail greeting.
    """

    MIN_SPEECH_FRAMES = 3  # 60 ms of voice before the bot counts as talking
    MIN_BOT_TURN_S = 0.8  # less voice than this since our last line is a backchannel, not a turn

    def __init__(
        self,
        persona: Persona,
        clock: Clock,
        *,
        is_speech: Callable[[bytes], bool],
        speak: Callable[[int, PersonaLine], None],
        hang_up: Callable[[str], None],
        report: Callable[[TurnEvent], None],
        reply_gap_ms: tuple[int, int] = (250, 400),
        rng: random.Random | None = None,
    ) -> None:
        self.persona = persona
        self._clock = clock
        self._is_speech = is_speech
        self._speak = speak
        self._hang_up = hang_up
        self._report = report
        self._gap_range = reply_gap_ms
        self._rng = rng or random.Random()
        self._answered_at: float | None = None
        self._next = 0
        self._speaking: int | None = None  # index of the line being played
        self._bot_speaking = False
        self._bot_spoke_since_line = False
        self._bot_voiced_s = 0.0  # voiced bot audio since our last line started
        self._voiced_run = 0
        self._last_voiced_at = 0.0
        self._gap_s = self._draw_gap()
        self._timer: Timer | None = None
        self._done = False

    # -- inputs -------------------------------------------------------------------------------
    def answered(self) -> None:
        self._answered_at = self._clock.seconds()
        self._arm_on_answer()

    def bot_frame(self, frame: bytes) -> None:
        """One 20 ms frame of the bot's audio, as received."""
        if self._done or self._answered_at is None:
            return
        now = self._clock.seconds()
        if self._is_speech(frame):
            self._voiced_run += 1
            self._last_voiced_at = now
            self._bot_voiced_s += FRAME_S
            if self._bot_voiced_s >= self.MIN_BOT_TURN_S:
                self._bot_spoke_since_line = True
            if not self._bot_speaking and self._voiced_run >= self.MIN_SPEECH_FRAMES:
                self._bot_speaking = True
                started = now - (self._voiced_run - 1) * FRAME_S
                self._report(BotSpeechStarted(self._t(started)))
                self._arm_during_bot(started)
            return
        self._voiced_run = 0
        if self._bot_speaking and now - self._last_voiced_at >= self._gap_s:
            self._bot_speaking = False
            self._report(BotSpeechEnded(self._t(self._last_voiced_at + FRAME_S)))
            self._bot_finished()

    def line_finished(self, index: int) -> None:
        """The line's last frame went out (or the call is ending)."""
        if self._speaking != index:
            return
        self._speaking = None
        self._report(LineFinished(index, self._t(self._clock.seconds())))
        self._arm_on_answer()

    def stop(self) -> None:
        """The call ended: cancel anything pending; nothing more will be said.

        The callbacks are dropped too: frames still queued for the reactor keep this object alive,
        and they must not keep the pjsua2 call behind it alive past the library's shutdown.
        """
        self._done = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._speak = _say_nothing
        self._hang_up = _ignore
        self._report = _ignore

    # -- decisions ----------------------------------------------------------------------------
    @property
    def lines_left(self) -> int:
        return len(self.persona.lines) - self._next

    def _next_line(self) -> PersonaLine | None:
        return self.persona.lines[self._next] if self._next < len(self.persona.lines) else None

    def _bot_finished(self) -> None:
        if self._speaking is not None or not self._bot_spoke_since_line:
            return
        line = self._next_line()
        if line is None:
            if self.persona.hangup_after_last and self.persona.lines:
                self._finish("persona_done")
            return
        if line.when == "after_bot":
            self._say()

    def _arm_during_bot(self, started: float) -> None:
        line = self._next_line()
        if line is None or line.when != "during_bot" or self._speaking is not None or self._timer is not None:
            return
        delay = max(0.0, started + line.delay_ms / 1000 - self._clock.seconds())
        self._timer = self._clock.callLater(delay, self._timer_fired)

    def _arm_on_answer(self) -> None:
        line = self._next_line()
        if line is None or line.when != "on_answer" or self._answered_at is None or self._timer is not None:
            return
        delay = max(0.0, self._answered_at + line.delay_ms / 1000 - self._clock.seconds())
        self._timer = self._clock.callLater(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        if not self._done and self._speaking is None:
            self._say()

    def _say(self) -> None:
        index = self._next
        line = self.persona.lines[index]
        self._next += 1
        self._speaking = index
        self._bot_spoke_since_line = False
        self._bot_voiced_s = 0.0
        self._gap_s = self._draw_gap()
        self._report(LineStarted(index, line.text, line.when, self._t(self._clock.seconds()), self._bot_speaking))
        self._speak(index, line)

    def _finish(self, reason: str) -> None:
        self._report(HangingUp(reason, self._t(self._clock.seconds())))
        hang_up = self._hang_up
        self.stop()
        hang_up(reason)

    def _draw_gap(self) -> float:
        lo, hi = self._gap_range
        return self._rng.uniform(lo, hi) / 1000

    def _t(self, when: float) -> float:
        return round(when - (self._answered_at or 0.0), 3)

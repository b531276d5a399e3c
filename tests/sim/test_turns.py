"""Turn-taking of the simulated borrower, frame by frame against a task.Clock (no SIP, no audio)."""

from __future__ import annotations

import random

from twisted.internet.task import Clock

from sim.personas import Persona, PersonaLine
from sim.turns import BotSpeechEnded, BotSpeechStarted, HangingUp, LineStarted, TurnEvent, TurnTaker

LOUD = b"\x01" + b"\x00" * 319
QUIET = b"\x00" * 320


class Harness:
    """Drives a TurnTaker: feeds bot frames every 20 ms and completes lines after their length."""

    def __init__(self, persona: Persona, gap: tuple[int, int] = (300, 300), line_s: float = 1.0) -> None:
        self.clock = Clock()
        self.events: list[TurnEvent] = []
        self.spoken: list[tuple[float, int]] = []
        self.hung_up: list[str] = []
        self.line_s = line_s
        self.taker = TurnTaker(
            persona,
            self.clock,
            is_speech=lambda frame: frame[0] != 0,
            speak=self._speak,
            hang_up=self.hung_up.append,
            report=self.events.append,
            reply_gap_ms=gap,
            rng=random.Random(1),
        )

    def _speak(self, index: int, line: PersonaLine) -> None:
        self.spoken.append((self.clock.seconds(), index))
        self.clock.callLater(self.line_s, self.taker.line_finished, index)

    def bot(self, seconds: float, loud: bool) -> None:
        for _ in range(round(seconds / 0.02)):
            self.clock.advance(0.02)
            self.taker.bot_frame(LOUD if loud else QUIET)

    def started(self) -> list[LineStarted]:
        return [e for e in self.events if isinstance(e, LineStarted)]


def persona(*lines: PersonaLine, hangup_after_last: bool = False) -> Persona:
    return Persona("p", "", tuple(lines), hangup_after_last=hangup_after_last)


def test_replies_after_the_reply_gap_once_the_bot_stops() -> None:
    """The first line starts one reply gap (300 ms here) after the bot's last voiced frame, not before."""
    h = Harness(persona(PersonaLine("a"), PersonaLine("b")))
    h.taker.answered()
    h.bot(2.0, loud=True)
    bot_end = h.clock.seconds()
    h.bot(0.26, loud=False)
    assert h.spoken == []
    h.bot(0.06, loud=False)
    assert [i for _, i in h.spoken] == [0]
    assert 0.28 <= h.spoken[0][0] - bot_end <= 0.34
    assert any(isinstance(e, BotSpeechStarted) for e in h.events)
    assert any(isinstance(e, BotSpeechEnded) for e in h.events)


def test_waits_for_the_bot_before_each_reply() -> None:
    """After a line the borrower stays quiet until the bot has spoken again; silence alone is not a cue."""
    h = Harness(persona(PersonaLine("a"), PersonaLine("b")), line_s=0.5)
    h.taker.answered()
    h.bot(1.0, loud=True)
    h.bot(1.0, loud=False)
    assert [i for _, i in h.spoken] == [0]
    h.bot(3.0, loud=False)  # the bot says nothing: no second line
    assert [i for _, i in h.spoken] == [0]
    h.bot(1.0, loud=True)
    h.bot(0.5, loud=False)
    assert [i for _, i in h.spoken] == [0, 1]


def test_a_pause_shorter_than_the_gap_is_not_the_end_of_the_bot_turn() -> None:
    """A 200 ms pause inside a prompt (between spliced fragments) does not trigger a reply."""
    h = Harness(persona(PersonaLine("a")))
    h.taker.answered()
    h.bot(1.0, loud=True)
    h.bot(0.2, loud=False)
    h.bot(1.0, loud=True)
    assert h.spoken == []
    h.bot(0.4, loud=False)
    assert len(h.spoken) == 1


def test_during_bot_line_talks_over_the_prompt() -> None:
    """An interrupting line starts its delay into the bot's prompt while the bot is still talking."""
    h = Harness(persona(PersonaLine("a"), PersonaLine("b", when="during_bot", delay_ms=1200)), line_s=0.5)
    h.taker.answered()
    h.bot(1.0, loud=True)
    h.bot(0.4, loud=False)
    h.clock.advance(0.5)  # first line plays
    prompt_start = h.clock.seconds()
    h.bot(3.0, loud=True)
    second = h.started()[1]
    assert second.bot_speaking is True
    assert 1.18 <= h.spoken[1][0] - prompt_start <= 1.26


def test_on_answer_line_starts_whatever_the_bot_does() -> None:
    """A voicemail-like line starts its delay after answer even though the bot has not spoken."""
    h = Harness(persona(PersonaLine("greeting", when="on_answer", delay_ms=200)))
    h.taker.answered()
    h.clock.advance(0.19)
    assert h.spoken == []
    h.clock.advance(0.02)
    assert [i for _, i in h.spoken] == [0]


def test_silent_persona_never_speaks() -> None:
    """A persona without lines stays silent through several bot prompts."""
    h = Harness(persona())
    h.taker.answered()
    for _ in range(3):
        h.bot(1.0, loud=True)
        h.bot(1.0, loud=False)
    assert h.spoken == [] and h.hung_up == []


def test_hangs_up_after_the_bot_answers_the_last_line() -> None:
    """hangup_after_last: once the bot has answered the final line, the borrower hangs up."""
    h = Harness(persona(PersonaLine("a"), hangup_after_last=True), line_s=0.5)
    h.taker.answered()
    h.bot(1.0, loud=True)
    h.bot(0.4, loud=False)
    h.clock.advance(0.5)
    assert h.hung_up == []
    h.bot(1.0, loud=True)
    h.bot(0.4, loud=False)
    assert h.hung_up == ["persona_done"]
    assert isinstance(h.events[-1], HangingUp)


def test_stop_cancels_a_pending_line() -> None:
    """When the call ends, a line waiting on its timer is never spoken."""
    h = Harness(persona(PersonaLine("greeting", when="on_answer", delay_ms=500)))
    h.taker.answered()
    h.taker.stop()
    h.clock.advance(1.0)
    assert h.spoken == []


def test_a_short_bot_backchannel_is_not_a_turn() -> None:
    """Half a second of bot voice ("嗯", "好的") followed by silence does not make the borrower reply."""
    h = Harness(persona(PersonaLine("a"), PersonaLine("b")), line_s=0.5)
    h.taker.answered()
    h.bot(1.0, loud=True)
    h.bot(0.4, loud=False)
    h.clock.advance(0.5)
    h.bot(0.4, loud=True)
    h.bot(1.0, loud=False)
    assert [i for _, i in h.spoken] == [0]
    h.bot(0.6, loud=True)  # the bot goes on talking: now it is a turn
    h.bot(0.4, loud=False)
    assert [i for _, i in h.spoken] == [0, 1]


def test_stop_releases_the_callbacks() -> None:
    """After stop the taker holds no reference to the call's callbacks (queued frames may outlive the call)."""
    h = Harness(persona(PersonaLine("a")))
    h.taker.answered()
    h.taker.stop()
    h.bot(1.0, loud=True)
    h.bot(1.0, loud=False)
    assert h.spoken == [] and h.events == []
    assert h.taker._speak is not h._speak

"""Playback goes out in 20 ms frames; barge-in cuts interruptible prompts within one frame only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from twisted.internet.task import Clock

from prompts.events import PromptFinished, PromptInterrupted, PromptStarted
from prompts.player import PromptPlayer
from prompts.renderer import RenderedPrompt
from prompts.splicer import PartTiming
from telephony.playback import PlaybackQueue

RATE = 8000
FRAME = 320  # bytes in 20 ms at 8 kHz
SILENCE = b"\x00" * FRAME


def immediate(fn: Callable[..., Any], *args: Any) -> None:
    fn(*args)


def prompt(frames: int, node: str = "n", interruptible: bool = True, value: int = 1000) -> RenderedPrompt:
    samples = np.full(frames * FRAME // 2, value, np.int16)
    return RenderedPrompt(samples, RATE, (PartTiming("fragment", "f", 0, len(samples)),), node, interruptible,
                          "", 0, 0, 0.0)


def setup() -> tuple[PlaybackQueue, Clock, PromptPlayer, list[PromptStarted]]:
    queue = PlaybackQueue(FRAME, immediate)
    clock = Clock()
    started: list[PromptStarted] = []
    return queue, clock, PromptPlayer(queue, clock, on_first_frame=started.append), started


def results(d: Any) -> list[Any]:
    out: list[Any] = []
    d.addCallback(out.append)
    return out


def test_plays_to_the_end_and_reports_frames() -> None:
    """A 10-frame prompt goes out frame by frame; PromptFinished says 10 frames, 200 ms."""
    queue, clock, player, started = setup()
    got = results(player.play(prompt(10, "greet/open")))
    clock.advance(1.5)
    frames = [queue.pull() for _ in range(11)]
    assert all(f != SILENCE for f in frames[:10]) and frames[10] == SILENCE
    assert got == [PromptFinished("greet/open", 10, 10, 200, False)]
    assert started == [PromptStarted("greet/open", 1.5)]


def test_first_frame_hook_fires_on_pull_not_on_enqueue() -> None:
    """The latency hook marks the moment the media bridge takes the first frame, not when queued."""
    queue, clock, player, started = setup()
    player.play(prompt(3))
    clock.advance(0.25)
    assert started == []
    queue.pull()
    assert started == [PromptStarted("n", 0.25)]


def test_barge_in_cuts_interruptible_within_one_frame() -> None:
    """After barge_in() the next frame is silence and PromptInterrupted reports 3 frames / 60 ms."""
    queue, _, player, _ = setup()
    got = results(player.play(prompt(50)))
    for _ in range(3):
        queue.pull()
    assert player.barge_in() is True
    assert queue.pull() == SILENCE
    assert got == [PromptInterrupted("n", 3, 50, 60)]
    assert not player.speaking


def test_non_interruptible_prompt_plays_on_and_says_speech_is_waiting() -> None:
    """A legal notice is not cut: barge_in() returns False, all frames play, held_barge_in is set."""
    queue, _, player, _ = setup()
    got = results(player.play(prompt(10, "notice", interruptible=False)))
    for _ in range(3):
        queue.pull()
    assert player.barge_in() is False
    frames = [queue.pull() for _ in range(7)]
    assert SILENCE not in frames
    assert got == [PromptFinished("notice", 10, 10, 200, True)]


def test_play_flag_overrides_prompt_flag() -> None:
    """The caller's `interruptible` wins over the flag the prompt was rendered with."""
    queue, _, player, _ = setup()
    got = results(player.play(prompt(10, interruptible=True), interruptible=False))
    queue.pull()
    assert player.barge_in() is False
    for _ in range(9):
        queue.pull()
    assert isinstance(got[0], PromptFinished) and got[0].held_barge_in


def test_barge_in_follows_whichever_prompt_is_on_air() -> None:
    """Queued notice then question: barge-in is refused during the notice, honoured during the question."""
    queue, _, player, _ = setup()
    notice = results(player.play(prompt(4, "notice", interruptible=False, value=7)))
    question = results(player.play(prompt(10, "ask", interruptible=True, value=9)))
    queue.pull()
    assert player.barge_in() is False
    for _ in range(3):
        queue.pull()
    assert notice == [PromptFinished("notice", 4, 4, 80, True)]
    assert queue.pull() != SILENCE  # first frame of the question
    assert player.barge_in() is True
    assert queue.pull() == SILENCE
    assert question == [PromptInterrupted("ask", 1, 10, 20)]


def test_barge_in_with_nothing_playing_is_a_no_op() -> None:
    """No prompt on air: nothing is cut and the caller is told so."""
    _, _, player, _ = setup()
    assert player.barge_in() is False and not player.speaking


def test_rate_mismatch_is_refused() -> None:
    """A 16 kHz rendering cannot go into an 8 kHz call's queue."""
    _, _, player, _ = setup()
    wrong = RenderedPrompt(np.zeros(640, np.int16), 16000, (), "n", True, "", 0, 0, 0.0)
    with pytest.raises(ValueError, match="16000 Hz"):
        player.play(wrong)


def test_per_prompt_start_callback_names_its_own_prompt() -> None:
    """With two prompts queued, each play's on_start fires once, when its own first frame goes out."""
    queue, clock, player, started = setup()
    first: list[PromptStarted] = []
    second: list[PromptStarted] = []
    player.play(prompt(2, "a"), on_start=first.append)
    player.play(prompt(2, "b"), on_start=second.append)
    queue.pull()
    clock.advance(0.04)
    queue.pull()
    assert first == [PromptStarted("a", 0.0)] and second == []
    queue.pull()
    assert second == [PromptStarted("b", 0.04)]
    assert started == first + second


def test_barge_in_from_the_reactor_stops_a_media_thread_within_one_frame() -> None:
    """With a real thread pulling frames, at most the frame already in flight goes out after barge_in()."""
    handed: list[Callable[[], Any]] = []
    queue = PlaybackQueue(FRAME, lambda fn, *a: handed.append(lambda: fn(*a)))
    player = PromptPlayer(queue, Clock())
    got = results(player.play(prompt(5000)))
    pulled: list[bytes] = []
    stop = threading.Event()

    def media_clock() -> None:
        while not stop.is_set():
            pulled.append(queue.pull())
            time.sleep(0.0005)  # a fast media clock: many frames per reactor turn

    thread = threading.Thread(target=media_clock)
    thread.start()
    try:
        while len(pulled) < 50:
            time.sleep(0.001)
        assert player.barge_in() is True
        at_cut = len(pulled)
        while len(pulled) < at_cut + 20:
            time.sleep(0.001)
    finally:
        stop.set()
        thread.join()
    for fn in handed:  # the reactor turn: on_start from the media thread, on_done from the cut
        fn()
    after = pulled[at_cut:]
    assert all(f == SILENCE for f in after[1:]), "only the frame in flight may follow the cut"
    assert isinstance(got[0], PromptInterrupted) and at_cut - 1 <= got[0].frames_played <= at_cut + 1

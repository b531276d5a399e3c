"""What playback reports upward: small frozen events, times in reactor seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptStarted:
    """The first frame of a prompt was handed to the media bridge (voice-to-voice latency ends here)."""

    node: str
    at: float  # reactor.seconds()


@dataclass(frozen=True)
class PromptFinished:
    """The prompt played to its end. `held_barge_in`: the borrower spoke during a non-interruptible
    prompt; their speech was captured and is the caller's to handle now."""

    node: str
    frames_played: int
    frames_total: int
    ms_played: int
    held_barge_in: bool = False


@dataclass(frozen=True)
class PromptInterrupted:
    """A barge-in (or a cut by the call) stopped the prompt after `frames_played` frames."""

    node: str
    frames_played: int
    frames_total: int
    ms_played: int

"""What speech input reports upward to the call session; all times are seconds of call time.

Events are small frozen values so the session can log, compare and replay them; `utterance` numbers
utterances from 1 within one call so partials, finals and barge-ins can be tied to their speech.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechStarted:
    utterance: int
    start_s: float  # first speech frame of the run that started the utterance
    detected_s: float  # when the start threshold was met (start_s + start_ms at the earliest)


@dataclass(frozen=True)
class SpeechEnded:
    utterance: int
    start_s: float
    end_s: float  # end of the last speech frame; the hangover is not included
    detected_s: float  # when the decision was made (end_s + hangover for reason "silence")
    reason: str  # "silence" | "max_length" | "forced" | "closed"


@dataclass(frozen=True)
class PartialTranscript:
    utterance: int
    text: str
    t: float  # call time of the newest audio the partial covers


@dataclass(frozen=True)
class FinalTranscript:
    utterance: int
    text: str
    start_s: float
    end_s: float
    partials: int  # distinct partial results seen for this utterance
    confidence: float | None  # mean word confidence when the recognizer gives one
    latency_s: float  # clock time from SpeechEnded to this result


@dataclass(frozen=True)
class BargeIn:
    utterance: int
    t: float
    speech_s: float  # speech heard in this utterance when the decision was made
    text: str  # newest partial at that moment ("" when characters are not required)


@dataclass(frozen=True)
class LikelyMachine:
    """A recording or carrier announcement is the likely talker; the evidence is kept for the record."""

    t: float
    first_speech_s: float  # when the talker started, seconds after answer
    continuous_speech_s: float  # run of speech with no pause of max_pause_ms or longer
    longest_pause_ms: int  # longest pause inside that run


@dataclass(frozen=True)
class RecognizerFailed:
    """The recognizer raised on this utterance's result: the call cannot hear, so it should end `error`."""

    utterance: int
    error: str  # "<ExceptionType>: <message>"


SpeechEvent = (
    SpeechStarted | SpeechEnded | PartialTranscript | FinalTranscript | BargeIn | LikelyMachine | RecognizerFailed
)

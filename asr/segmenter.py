"""Endpointing: turns per-frame speech flags into utterances with call-time boundaries.

Kept free of I/O and threads so it can be driven frame by frame in tests with exact times. A frame
pushed with time `t` covers [t, t + frame_s).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from config.asr_config import VadSettings


@dataclass(frozen=True)
class UtteranceStart:
    start_s: float
    detected_s: float


@dataclass(frozen=True)
class UtteranceEnd:
    start_s: float
    end_s: float
    detected_s: float
    reason: str  # "silence" | "max_length" | "forced"


@dataclass(frozen=True)
class SegmentStep:
    """What one frame changed: audio to hand the recognizer, and at most a start and an end."""

    audio: tuple[bytes, ...] = ()
    started: UtteranceStart | None = None
    ended: UtteranceEnd | None = None


_NOTHING = SegmentStep()  # an idle frame that starts nothing (frozen, so one instance serves all)


class SpeechSegmenter:
    """Start after `start_ms` of speech (gaps tolerated), end after `hangover_ms` of silence.

    The start window is 1.5 x start_ms long and needs start_ms of speech frames inside it, so one
    frame the VAD misses in a soft onset does not delay the start; pre-roll frames from before the
    first speech frame go to the recognizer with the start so the first syllable is not clipped.
    """

    def __init__(self, settings: VadSettings, frame_ms: int = 20) -> None:
        self.frame_s = frame_ms / 1000
        self._start_frames = max(1, settings.start_ms // frame_ms)
        self._window = max(self._start_frames, (self._start_frames * 3 + 1) // 2)
        self._preroll_frames = settings.preroll_ms // frame_ms
        self._hangover_frames = max(1, settings.hangover_ms // frame_ms)
        self._max_s = settings.max_utterance_ms / 1000
        self._recent: deque[tuple[bytes, bool, float]] = deque(maxlen=self._window + self._preroll_frames)
        # The speech flags of the newest `_window` frames of `_recent` and how many are set, kept as
        # frames come so an idle frame costs O(1) instead of copying and counting the window.
        self._window_flags: deque[bool] = deque(maxlen=self._window)
        self._window_speech = 0
        self.in_utterance = False
        self._start_s = 0.0
        self._last_speech_end_s = 0.0
        self._silent_frames = 0
        self._speech_frames = 0

    @property
    def speech_s(self) -> float:
        """Speech heard in the current utterance (0 outside one); what barge-in is judged on."""
        return self._speech_frames * self.frame_s if self.in_utterance else 0.0

    @property
    def start_s(self) -> float:
        return self._start_s

    def push(self, frame: bytes, is_speech: bool, t: float) -> SegmentStep:
        if not self.in_utterance:
            return self._idle(frame, is_speech, t)
        started = None
        if is_speech:
            self._speech_frames += 1
            self._silent_frames = 0
            self._last_speech_end_s = t + self.frame_s
        else:
            self._silent_frames += 1
        if self._silent_frames >= self._hangover_frames:
            return SegmentStep((frame,), started, self._end(t + self.frame_s, "silence"))
        if t + self.frame_s - self._start_s >= self._max_s - 1e-9:
            return SegmentStep((frame,), started, self._end(t + self.frame_s, "max_length"))
        return SegmentStep((frame,))

    def force_end(self, t: float) -> UtteranceEnd | None:
        """End the current utterance now (early endpointing or hang-up); None when there is none."""
        if not self.in_utterance:
            return None
        return self._end(t, "forced")

    def _idle(self, frame: bytes, is_speech: bool, t: float) -> SegmentStep:
        self._recent.append((frame, is_speech, t))
        flags = self._window_flags
        if len(flags) == flags.maxlen and flags[0]:
            self._window_speech -= 1
        flags.append(is_speech)
        self._window_speech += is_speech
        if self._window_speech < self._start_frames:
            return _NOTHING
        window = list(self._recent)[-self._window :]
        first = next(i for i, (_, speech, _) in enumerate(window) if speech)
        first_index = len(self._recent) - len(window) + first
        frames = list(self._recent)
        audio = tuple(f for f, _, _ in frames[max(0, first_index - self._preroll_frames) :])
        self.in_utterance = True
        self._start_s = frames[first_index][2]
        self._speech_frames = sum(1 for _, speech, _ in frames[first_index:] if speech)
        self._silent_frames = 0
        self._last_speech_end_s = t + self.frame_s
        self._clear_recent()
        return SegmentStep(audio, UtteranceStart(self._start_s, t + self.frame_s))

    def _clear_recent(self) -> None:
        self._recent.clear()
        self._window_flags.clear()
        self._window_speech = 0

    def _end(self, detected_s: float, reason: str) -> UtteranceEnd:
        end = UtteranceEnd(self._start_s, self._last_speech_end_s, detected_s, reason)
        self.in_utterance = False
        self._speech_frames = 0
        self._silent_frames = 0
        self._clear_recent()
        return end

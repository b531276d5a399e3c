"""The segmenter's running speech count in the start window decides exactly like counting the window each frame."""

from __future__ import annotations

import random

from asr.segmenter import SegmentStep, SpeechSegmenter, UtteranceStart
from config.asr_config import VadSettings


class CountingSegmenter(SpeechSegmenter):
    """The start rule as first written: copy the newest window and count its speech frames every idle frame."""

    def _idle(self, frame: bytes, is_speech: bool, t: float) -> SegmentStep:
        self._recent.append((frame, is_speech, t))
        window = list(self._recent)[-self._window :]
        if sum(1 for _, speech, _ in window if speech) < self._start_frames:
            return SegmentStep()
        first = next(i for i, (_, speech, _) in enumerate(window) if speech)
        first_index = len(self._recent) - len(window) + first
        frames = list(self._recent)
        audio = tuple(f for f, _, _ in frames[max(0, first_index - self._preroll_frames) :])
        self.in_utterance = True
        self._start_s = frames[first_index][2]
        self._speech_frames = sum(1 for _, speech, _ in frames[first_index:] if speech)
        self._silent_frames = 0
        self._last_speech_end_s = t + self.frame_s
        self._recent.clear()
        return SegmentStep(audio, UtteranceStart(self._start_s, t + self.frame_s))


def test_running_count_matches_counting_the_window() -> None:
    """Over random speech/silence patterns (soft onsets, clicks, long runs) both give the same steps frame by frame."""
    rng = random.Random(11)
    for settings in (VadSettings(), VadSettings(start_ms=60, hangover_ms=200, preroll_ms=100)):
        fast, plain = SpeechSegmenter(settings), CountingSegmenter(settings)
        starts = 0
        for i in range(20000):
            run_speech = (i // rng.choice((3, 7, 20, 60))) % 2 == 0
            is_speech = run_speech if rng.random() > 0.15 else not run_speech
            frame = i.to_bytes(4, "little")
            a, b = fast.push(frame, is_speech, i * 0.02), plain.push(frame, is_speech, i * 0.02)
            assert a == b, i
            starts += a.started is not None
        assert starts > 20  # many utterances started, so the start rule was exercised

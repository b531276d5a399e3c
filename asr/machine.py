"""Answering-machine / carrier-announcement hint from the shape of speech right after answer.

A person picks up, says a short "喂" and waits for the caller; a voicemail greeting or a carrier
announcement talks for seconds without a real pause. This watches raw VAD flags (not utterances, whose
hangover would hide the pauses) and reports once, with its evidence, when a run of speech that began
inside the window goes on for `continuous_speech_s` without a pause of `max_pause_ms`.
"""

from __future__ import annotations

from asr.events import LikelyMachine
from config.asr_config import MachineSettings


class ContinuousSpeechDetector:
    def __init__(self, settings: MachineSettings, frame_ms: int = 20) -> None:
        self._settings = settings
        self._frame_s = frame_ms / 1000
        self._run_start: float | None = None
        self._last_speech_end = 0.0
        self._longest_pause_s = 0.0
        self.done = not settings.enabled

    def push(self, is_speech: bool, t: float) -> LikelyMachine | None:
        if self.done:
            return None
        s = self._settings
        paused_s = t + self._frame_s - self._last_speech_end
        if self._run_start is not None and not is_speech and paused_s >= s.max_pause_ms / 1000:
            self._run_start = None  # a real pause: this run was human-like
        if is_speech:
            if self._run_start is None:
                if t > s.window_s:
                    self.done = True
                    return None
                self._run_start = t
                self._longest_pause_s = 0.0
            else:
                self._longest_pause_s = max(self._longest_pause_s, t - self._last_speech_end)
            self._last_speech_end = t + self._frame_s
            run_s = self._last_speech_end - self._run_start
            if run_s >= s.continuous_speech_s - 1e-9:
                self.done = True
                return LikelyMachine(
                    t=t + self._frame_s,
                    first_speech_s=self._run_start,
                    continuous_speech_s=round(run_s, 3),
                    longest_pause_ms=round(self._longest_pause_s * 1000),
                )
        elif self._run_start is None and t > s.window_s:
            self.done = True
        return None

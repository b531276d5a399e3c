"""The espeak-ng engine really speaks Mandarin, and fails with a reason when it cannot."""

from __future__ import annotations

import numpy as np
import pytest

from prompts.shaping import speech_level_dbfs, to_float
from prompts.tts import EspeakTts, TtsError

pytestmark = pytest.mark.integration


def test_synthesizes_mono_speech() -> None:
    """A money reading comes back as about a second or more of audible 16-bit mono speech."""
    speech = EspeakTts().synthesize("三千二百元五角")
    assert speech.rate == 22050 and speech.samples.dtype == np.int16
    assert 0.8 < len(speech.samples) / speech.rate < 4.0
    assert speech_level_dbfs(to_float(speech.samples), speech.rate) > -35


def test_default_voice_reads_chinese_as_mandarin_unlike_plain_cmn() -> None:
    """espeak-ng 1.51's plain `cmn` switches to English rules for 三 ("san one"); the default does not."""
    assert "(en)" not in EspeakTts().phonemes("三千二百元五角")
    assert "(en)" in EspeakTts("cmn").phonemes("三千二百元五角")


def test_unknown_voice_and_missing_binary_are_clear_errors() -> None:
    """A bad voice name and an absent executable raise TtsError saying which."""
    with pytest.raises(TtsError, match="nosuchvoice"):
        EspeakTts("nosuchvoice").synthesize("你好")
    with pytest.raises(TtsError, match="install the Debian package espeak-ng"):
        EspeakTts(executable="espeak-ng-not-installed").synthesize("你好")
    with pytest.raises(TtsError, match="empty"):
        EspeakTts().synthesize("  ")

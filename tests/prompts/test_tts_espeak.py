"""The espeak-ng engine really speaks Mandarin, and fails with a reason when it cannot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from prompts.shaping import speech_level_dbfs, to_float, trim_edges
from prompts.tts import EspeakLibraryTts, EspeakTts, Speech, TtsError, make_tts

pytestmark = pytest.mark.integration


def speech_length(speech: Speech) -> int:
    """Samples between the first and last audible 5 ms (the binary adds ~270 ms of trailing silence)."""
    return len(trim_edges(to_float(speech.samples), speech.rate, keep_ms=0))


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


def test_in_process_engine_speaks_like_the_binary() -> None:
    """libespeak-ng in-process speaks like the binary: same rate, same speech once edge silence is cut."""
    lib = EspeakLibraryTts().synthesize("三千二百元五角")
    exe = EspeakTts().synthesize("三千二百元五角")
    assert lib.rate == exe.rate == 22050
    assert abs(speech_length(lib) - speech_length(exe)) <= 0.01 * speech_length(exe)
    assert speech_level_dbfs(to_float(lib.samples), lib.rate) > -35


def test_in_process_engine_is_safe_from_threads() -> None:
    """Concurrent calls from a thread pool each get their own text's audio (the engine is serialized)."""
    texts = ["张伟", "三千二百元五角", "十二月二日", "幺三八零零"] * 3
    tts = EspeakLibraryTts()
    alone = {t: speech_length(tts.synthesize(t)) for t in set(texts)}
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: speech_length(tts.synthesize(t)), texts))
    for text, n in zip(texts, together, strict=True):
        assert abs(n - alone[text]) <= 0.01 * alone[text]


def test_in_process_engine_refuses_unknown_voice() -> None:
    """An unknown voice is a TtsError, and the engine still works for the next caller."""
    with pytest.raises(TtsError, match="nosuchvoice"):
        EspeakLibraryTts("nosuchvoice").synthesize("你好")
    assert len(EspeakLibraryTts().synthesize("你好").samples) > 1000


def test_make_tts_picks_the_configured_engine() -> None:
    """The config names map to the two engines; anything else is refused."""
    assert isinstance(make_tts("libespeak-ng", "cmn-latn-pinyin", 185, 50), EspeakLibraryTts)
    assert isinstance(make_tts("espeak-ng", "cmn-latn-pinyin", 185, 50), EspeakTts)
    with pytest.raises(TtsError, match="unknown TTS engine"):
        make_tts("festival", "x", 185, 50)

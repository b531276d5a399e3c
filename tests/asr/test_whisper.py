"""The whisper recognizer with the real packaged model on espeak-ng speech (integration), and its refusals."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from twisted.python.threadpool import ThreadPool

from asr.recognizer import RecognitionResult, build_recognizer
from asr.whisper_recognizer import (
    MODEL_SHA256,
    MODEL_SIZE,
    PACKAGED_DIR_NAME,
    WhisperEngine,
    WhisperModelError,
    WhisperRecognizer,
    packaged_model_dir,
    shared_whisper_engine,
)
from config.asr_config import AsrConfig, WhisperSettings
from tests.asr.synth import speak

ROOT = Path(__file__).resolve().parents[2]
CONFIG = AsrConfig(recognizer="whisper", worker_threads=2, whisper=WhisperSettings(cache_dir=str(ROOT / "var/models")))
VOICE = "cmn-latn-pinyin"  # plain "cmn" reads Han characters with English rules in espeak-ng 1.51


class ThreadHandoff:
    """The `callFromThread` slice of a reactor that `deferToThreadPool` uses; the test thread runs the calls."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.Queue()

    def callFromThread(self, fn: Callable[..., Any], *args: Any) -> None:
        self.calls.put((fn, args))

    def run_until(self, done: Callable[[], bool], timeout: float = 120.0) -> None:
        while not done():
            fn, args = self.calls.get(timeout=timeout)
            fn(*args)


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return shared_whisper_engine(CONFIG)


def _pcm(text: str) -> bytes:
    return speak(text, 8000, voice=VOICE).astype("<i2").tobytes()


def _decode_all(engine: WhisperEngine, clips: list[bytes], threads: int) -> list[RecognitionResult]:
    handoff = ThreadHandoff()
    pool = ThreadPool(minthreads=1, maxthreads=threads, name="asr-test")
    pool.start()
    try:
        recognizer = WhisperRecognizer(engine, handoff, pool)
        results: list[RecognitionResult] = []
        for clip in clips:
            stream = recognizer.open_stream(8000, lambda text: None)
            stream.feed(clip)
            stream.finish().addCallback(results.append)
        handoff.run_until(lambda: len(results) == len(clips))
        return results
    finally:
        pool.stop()


@pytest.mark.integration
def test_mandarin_speech_comes_back_as_chinese_text(engine: WhisperEngine) -> None:
    """A clean espeak sentence at 8 kHz is decoded, off the calling thread, to mostly the same Han characters."""
    truth = "我们一起去公园散步吧"
    engine.decode_threads.clear()
    [result] = _decode_all(engine, [_pcm(truth)], threads=1)
    hits = sum(1 for ch in truth if ch in result.text)
    assert hits >= len(truth) * 0.6, result.text
    assert result.confidence is not None and 0 < result.confidence <= 1
    assert threading.get_ident() not in engine.decode_threads


@pytest.mark.integration
def test_pool_size_bounds_concurrent_decodes(engine: WhisperEngine) -> None:
    """Three calls ending at once on a two-thread pool decode two at a time, never three."""
    clip = _pcm("我已经还了")
    engine.peak_active = 0
    results = _decode_all(engine, [clip, clip, clip], threads=2)
    assert len(results) == 3 and all(r.text for r in results)
    assert engine.peak_active == 2


def test_truncated_or_corrupt_model_is_refused_with_path_and_hash(tmp_path: Path) -> None:
    """A cached model.bin that is short, or full-size with other bytes, is refused naming the file and the hash."""
    folder = packaged_model_dir(tmp_path)  # joins the installed parts: a good file first
    model_bin = folder / "model.bin"
    assert model_bin.stat().st_size == MODEL_SIZE
    config = AsrConfig(recognizer="whisper", whisper=WhisperSettings(cache_dir=str(tmp_path)))
    with model_bin.open("r+b") as fh:
        fh.truncate(MODEL_SIZE - 4096)
    with pytest.raises(WhisperModelError) as short:
        shared_whisper_engine(config)
    assert str(model_bin) in str(short.value) and MODEL_SHA256 in str(short.value) and "truncated" in str(short.value)
    with model_bin.open("r+b") as fh:
        fh.truncate(MODEL_SIZE)  # right size again, but the tail is zeros now
    with pytest.raises(WhisperModelError) as corrupt:
        build_recognizer(config, None, None)
    assert str(model_bin) in str(corrupt.value) and MODEL_SHA256 in str(corrupt.value)
    assert "corrupt" in str(corrupt.value) and folder.name == PACKAGED_DIR_NAME


def test_missing_extra_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without faster-whisper installed, building the recognizer says which package to install."""
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # makes `import faster_whisper` fail
    with pytest.raises(WhisperModelError) as info:
        build_recognizer(CONFIG, None, None)
    assert "faster-whisper" in str(info.value) and "zh-asr" in str(info.value)


def test_model_path_must_be_a_ctranslate2_folder(tmp_path: Path) -> None:
    """`[asr] model_path` pointing at something else names the folder and what is missing from it."""
    (tmp_path / "readme.txt").write_text("not a model", "utf-8")
    config = AsrConfig(recognizer="whisper", model_path=str(tmp_path))
    with pytest.raises(WhisperModelError) as info:
        build_recognizer(config, None, None)
    assert str(tmp_path) in str(info.value) and "model.bin" in str(info.value) and "readme.txt" in str(info.value)


def test_short_noise_is_no_words(engine: WhisperEngine) -> None:
    """Under 100 ms of audio is not decoded at all (Whisper would invent words for it)."""
    assert engine.decode(np.zeros(400, "<i2").tobytes(), 8000) == RecognitionResult("", None)


class _EchoingModel:
    """A faster-whisper stand-in that hears `text` in any audio (the echo filter is what is under test)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe(self, audio: Any, **options: Any) -> tuple[list[Any], None]:
        from types import SimpleNamespace

        return [SimpleNamespace(text=self.text, avg_logprob=-0.2)], None


def test_an_echo_of_the_initial_prompt_is_no_words() -> None:
    """A result that only repeats part of the prompt is dropped; words beyond the prompt are kept."""
    from asr.whisper_recognizer import DecodeOptions

    options = DecodeOptions("简体中文，有标点。", 5)
    speech = np.full(1600, 1000, "<i2").tobytes()
    assert WhisperEngine(_EchoingModel("简体中文４"), Path("."), options).decode(speech, 8000).text == ""
    kept = WhisperEngine(_EchoingModel("我已经还了。"), Path("."), options).decode(speech, 8000)
    assert kept.text == "我已经还了。" and kept.confidence == round(float(np.exp(-0.2)), 3)


@pytest.mark.parametrize(
    ("heard", "kept"),
    [
        ("请订阅我的频道。", ""),  # Whisper's subtitle credits: no speech at all
        ("字幕——字幕", ""),
        ("请按赞、订阅、转发、", ""),
        ("我明天还，请订阅我的频道。", "我明天还，"),  # the borrower's clause stays
        ("有标点。我下周还。", "我下周还。"),  # a clause echoing the prompt goes, the rest stays
        ("我\ufffd先还一点点", "我先还一点点"),  # half a character from a cut byte sequence
    ],
)
def test_subtitle_phrases_and_prompt_echo_clauses_are_not_the_borrowers(heard: str, kept: str) -> None:
    """What Whisper writes for audio it cannot make out is dropped clause by clause; "" is no speech."""
    from asr.whisper_recognizer import DecodeOptions

    options = DecodeOptions("简体中文，有标点。", 5)
    speech = np.full(1600, 1000, "<i2").tobytes()
    result = WhisperEngine(_EchoingModel(heard), Path("."), options).decode(speech, 8000)
    assert result.text == kept
    assert (result.confidence is None) == (kept == "")


@pytest.mark.parametrize("said", ["下期再还吧", "先还一点点", "谢谢 我知道了", "你发个视频链接给我？"])
def test_stock_phrase_filter_keeps_what_a_borrower_says(said: str) -> None:
    """Words a borrower uses (next installment, a little, thanks, a video link) are not on the list."""
    from asr.normalize import drop_stock_phrases

    assert drop_stock_phrases(said) == said


def test_stock_phrase_list_must_have_entries(tmp_path: Path) -> None:
    """An empty or missing list is an error naming the file, not a filter that silently drops nothing."""
    from asr.normalize import read_phrase_list

    empty = tmp_path / "phrases.txt"
    empty.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(ValueError, match=str(empty)):
        read_phrase_list(empty)
    with pytest.raises(ValueError, match=r"missing\.txt"):
        read_phrase_list(tmp_path / "missing.txt")

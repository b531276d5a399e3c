"""Rendering splices recordings and TTS without audible joins, at one loudness, with exact timing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prompt_fakes import CATALOGUE, FakeTts
from twisted.python.threadpool import ThreadPool

from config.prompts_config import PromptSettings
from dialogue.prompt import Fragment, Prompt, Variable
from prompts.assets import AssetLibrary
from prompts.cache import RenderCache
from prompts.renderer import PromptRenderer, PromptRenderError, RenderedPrompt
from prompts.shaping import speech_level_dbfs, to_float
from prompts.splicer import PartTiming
from prompts.tts import EspeakTts, Speech, TextToSpeech

SETTINGS = PromptSettings(target_dbfs=-20.0, crossfade_ms=8.0, clause_pause_ms=120, sentence_pause_ms=250)


def reminder() -> Prompt:
    f = lambda i: Fragment(i, CATALOGUE[i])  # noqa: E731
    return Prompt(
        (
            f("hello"), Variable("honorific", "张先生", "text"),
            f("this_is"), Variable("company", "示例消费金融", "text"),
            f("you_owe"), Variable("amount", 3200.5, "money"), f("due_by"),
            Variable("due_date", dt.date(2026, 12, 2), "date"), f("before_end"),
        ),
        "remind/amount",
        True,
    )


def make_renderer(manifest: Path, tts: TextToSpeech, settings: PromptSettings = SETTINGS) -> PromptRenderer:
    return PromptRenderer(AssetLibrary.load(manifest, CATALOGUE), tts, RenderCache(8 << 20), settings)


def piece_length(renderer: PromptRenderer, part: Fragment | Variable, rate: int) -> int:
    if isinstance(part, Fragment):
        return len(renderer.fragment_audio(part.id, rate))
    return len(renderer.render(Prompt((part,), "solo", True), rate).samples)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_duration_is_pieces_plus_pauses_minus_crossfades(make_manifest: Callable[..., Path], rate: int) -> None:
    """Length = every piece + two 120 ms clause pauses (after '，', before '，') - six 8 ms crossfades."""
    renderer = make_renderer(make_manifest(rates={"hello": 8000}), FakeTts())
    prompt = reminder()
    pieces = sum(piece_length(renderer, p, rate) for p in prompt.parts)
    expected = pieces + 2 * (120 * rate // 1000) - 6 * (8 * rate // 1000)
    out = renderer.render(prompt, rate)
    assert len(out.samples) == expected
    assert [p.kind for p in out.parts].count("pause") == 2
    assert out.frame_count == -(-expected // (rate // 50))


def join_and_inner_jumps(out: RenderedPrompt, window_ms: float = 10) -> tuple[float, float]:
    """Largest sample step within `window_ms` of any join, and largest step well inside the pieces."""
    diff = np.abs(np.diff(out.samples.astype(np.int32)))
    w = int(out.rate * window_ms / 1000)
    near = np.zeros(len(diff), bool)
    for a, b in zip(out.parts, out.parts[1:], strict=False):
        for edge in {a.end, b.start}:
            near[max(0, edge - w) : edge + w] = True
    return float(diff[near].max()), float(diff[~near].max())


def assert_seamless_and_level(out: RenderedPrompt, target: float) -> None:
    join, inner = join_and_inner_jumps(out)
    assert join <= inner, f"a join jumps {join} while the pieces themselves jump at most {inner}"
    for part in out.parts:
        segment = to_float(out.samples[part.start : part.end])
        if part.kind == "pause":
            assert not segment.any(), "a pause must be silence"
            continue
        level = speech_level_dbfs(segment, out.rate)
        assert abs(level - target) <= 1.0, f"{part.name}: {level:.2f} dBFS vs target {target}"


def test_joins_and_levels_with_synthetic_pieces(make_manifest: Callable[..., Path]) -> None:
    """Pieces recorded at different levels come out within 1 dB of target with no jump at any join."""
    renderer = make_renderer(make_manifest(), FakeTts())
    assert_seamless_and_level(renderer.render(reminder(), 16000), SETTINGS.target_dbfs)


def test_join_check_detects_a_hard_cut(make_manifest: Callable[..., Path]) -> None:
    """Control for the join check: the same pieces butted together mid-syllable do show a jump."""
    out = make_renderer(make_manifest(), FakeTts()).render(reminder(), 16000)
    chunks, parts, pos = [], [], 0
    for part in out.parts:
        if part.kind == "pause":
            continue
        third = part.length // 3
        chunk = out.samples[part.start + third : part.end - third]
        chunks.append(chunk)
        parts.append(PartTiming(part.kind, part.name, pos, pos + len(chunk)))
        pos += len(chunk)
    naive = dataclasses.replace(out, samples=np.concatenate(chunks), parts=tuple(parts))
    join, inner = join_and_inner_jumps(naive)
    assert join > inner


@pytest.mark.integration
@pytest.mark.parametrize("rate", [8000, 16000])
def test_joins_and_levels_with_espeak(make_manifest: Callable[..., Path], rate: int) -> None:
    """With real espeak-ng speech for the variables, levels hold within 1 dB and joins stay seamless."""
    renderer = make_renderer(make_manifest(), EspeakTts())
    out = renderer.render(reminder(), rate)
    assert out.variables_synthesized == 4
    assert_seamless_and_level(out, SETTINGS.target_dbfs)


def test_second_render_hits_the_cache(make_manifest: Callable[..., Path]) -> None:
    """The second render of the same prompt runs no TTS and yields the same audio."""
    tts = FakeTts()
    renderer = make_renderer(make_manifest(), tts)
    first = renderer.render(reminder(), 8000)
    runs = len(tts.calls)
    second = renderer.render(reminder(), 8000)
    assert (first.variables_synthesized, first.variables_cached) == (4, 0)
    assert (second.variables_synthesized, second.variables_cached) == (0, 4)
    assert len(tts.calls) == runs == 4
    assert np.array_equal(first.samples, second.samples)
    assert renderer.cache.stats().hits == 4


def test_tts_gets_words_not_digits(make_manifest: Callable[..., Path]) -> None:
    """Money and dates reach the TTS engine already in Chinese words."""
    tts = FakeTts()
    make_renderer(make_manifest(), tts).render(reminder(), 8000)
    assert "三千二百元五角" in tts.calls and "十二月二日" in tts.calls


def test_prerender_and_prepare_make_the_first_render_warm(make_manifest: Callable[..., Path]) -> None:
    """After prerender (fragments) and prepare (variables) a render needs no TTS and no file work."""
    tts = FakeTts()
    renderer = make_renderer(make_manifest(), tts)
    prompt = reminder()
    assert not renderer.is_warm(prompt, 8000)
    assert renderer.prerender(prompt.fragment_ids, 8000) == 5
    assert renderer.prepare([p for p in prompt.parts if isinstance(p, Variable)], 8000) == 4
    assert renderer.is_warm(prompt, 8000) and not renderer.is_warm(prompt, 16000)
    out = renderer.render(prompt, 8000)
    assert out.variables_synthesized == 0 and len(tts.calls) == 4
    assert renderer.pinned_bytes() > 0


def test_errors_name_the_part_but_never_the_value(make_manifest: Callable[..., Path]) -> None:
    """An unrecorded fragment or an unreadable variable is refused by name; the value is not echoed."""
    renderer = make_renderer(make_manifest(), FakeTts())
    with pytest.raises(PromptRenderError, match="'missing_frag'"):
        renderer.render(Prompt((Fragment("missing_frag", "x"),), "n", True), 8000)
    with pytest.raises(PromptRenderError, match="'amount'") as info:
        renderer.render(Prompt((Variable("amount", "13800138000x", "money"),), "n", True), 8000)
    assert "13800138000" not in str(info.value)
    with pytest.raises(PromptRenderError, match="8000 or 16000"):
        renderer.render(reminder(), 44100)


def test_punctuation_fragment_is_a_pause_not_a_sound(make_manifest: Callable[..., Path]) -> None:
    """A "。" fragment after a variable becomes one sentence pause before the next piece."""
    catalogue = {**CATALOGUE, "period": "。"}
    manifest = make_manifest(catalogue)
    import pcm.wav

    pcm.wav.write_wav(manifest.parent / "fragments/period.wav", np.zeros(320, np.int16), 16000)
    renderer = PromptRenderer(AssetLibrary.load(manifest, catalogue), FakeTts(), RenderCache(1 << 20), SETTINGS)
    date = Variable("due_date", dt.date(2026, 12, 2), "date")
    prompt = Prompt((date, Fragment("period", "。"), Fragment("this_is", CATALOGUE["this_is"])), "n", True)
    out = renderer.render(prompt, 8000)
    assert [(p.kind, p.length) for p in out.parts][1:3] == [("fragment", 0), ("pause", 250 * 8)]
    assert len(out.samples) == piece_length(renderer, date, 8000) + 2000 + len(renderer.fragment_audio("this_is", 8000))


class ThreadRecordingTts(FakeTts):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def synthesize(self, text: str) -> Speech:
        self.threads.add(threading.get_ident())
        return super().synthesize(text)


class HandOffReactor:
    """Stands in for the reactor's callFromThread: results are queued for the main thread to run."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.Queue()

    def callFromThread(self, fn: Callable[..., Any], *args: Any) -> None:
        self.calls.put((fn, args))


def test_render_in_thread_keeps_tts_off_the_calling_thread(make_manifest: Callable[..., Path]) -> None:
    """A cold render runs TTS on the pool and its result arrives through callFromThread."""
    tts = ThreadRecordingTts()
    renderer = make_renderer(make_manifest(), tts)
    pool = ThreadPool(1, 1)
    pool.start()
    reactor = HandOffReactor()
    try:
        d = renderer.render_in_thread(reminder(), 8000, reactor, pool)  # type: ignore[arg-type]
        got: list[RenderedPrompt] = []
        d.addCallback(got.append)
        fn, args = reactor.calls.get(timeout=10)
        fn(*args)
    finally:
        pool.stop()
    assert got and got[0].variables_synthesized == 4
    assert threading.get_ident() not in tts.threads

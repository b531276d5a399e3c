"""Prompt -> PCM at the call's rate: recorded fragments and synthesized variables, spliced.

Latency budget: the borrower stops talking, ASR finalizes, the dialogue picks a node, and the first
frame must leave within ~350 ms. So rendering must be a few milliseconds on the warm path. Fixed
fragments are prepared once per rate (`prerender`, when a campaign starts) and kept pinned; variable
pieces go through TTS once and are kept in a byte-bounded LRU (`prepare`, when a call is placed),
so a turn only joins ready arrays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from config.prompts_config import PromptSettings
from dialogue.prompt import Fragment, Prompt, Variable
from pcm.frames import FRAME_MS
from pcm.resample import resample
from pcm.wav import Samples
from prompts.assets import AssetLibrary
from prompts.cache import RenderCache, content_key
from prompts.numbers import NumberReader, VariableReadingError
from prompts.shaping import fade_edges, normalize_level, to_float, to_int16, trim_edges
from prompts.splicer import PartTiming, PauseRules, Piece, PromptSplicer, is_punctuation_only
from prompts.tts import TextToSpeech, TtsError
from telemetry.logging import log_event

log = logging.getLogger(__name__)
CALL_RATES = (8000, 16000)


class PromptRenderError(ValueError):
    """A prompt cannot be rendered; names the fragment or variable (never a variable's value)."""


@dataclass(frozen=True, eq=False)  # holds an array: compare `samples` explicitly
class RenderedPrompt:
    samples: Samples = field(repr=False)  # mono int16 at `rate`
    rate: int
    parts: tuple[PartTiming, ...]  # offsets in samples; pauses included
    node: str
    interruptible: bool
    text: str = field(repr=False)  # what the call record stores as prompt text
    variables_cached: int  # variable pieces served from the cache
    variables_synthesized: int  # variable pieces that went through TTS for this render
    render_ms: float

    @property
    def duration_ms(self) -> float:
        return len(self.samples) * 1000 / self.rate

    @property
    def frame_count(self) -> int:
        per_frame = self.rate * FRAME_MS // 1000
        return -(-len(self.samples) // per_frame)

    def pcm(self) -> bytes:
        return self.samples.astype("<i2").tobytes()

    def part_ms(self, part: PartTiming) -> tuple[float, float]:
        """(start, end) of a part in milliseconds from the prompt's first sample."""
        return part.start * 1000 / self.rate, part.end * 1000 / self.rate


class PromptRenderer:
    def __init__(
        self,
        assets: AssetLibrary,
        tts: TextToSpeech,
        cache: RenderCache,
        settings: PromptSettings | None = None,
        *,
        reader: NumberReader | None = None,
    ) -> None:
        self.assets = assets
        self.tts = tts
        self.cache = cache
        self.settings = settings or PromptSettings()
        self.reader = reader or NumberReader()
        s = self.settings
        self._pauses = PauseRules(s.clause_pause_ms, s.sentence_pause_ms, s.part_gap_ms)
        self._fragments: dict[tuple[str, int], Samples] = {}  # pinned: never evicted by variable churn
        self._lock = threading.Lock()

    # --- the hot path ------------------------------------------------------------------------

    def render(self, prompt: Prompt, rate: int) -> RenderedPrompt:
        """Blocking; a few ms when warm, one TTS run (~20 ms) per unseen variable when cold."""
        started = time.perf_counter()
        _check_rate(rate)
        pieces: list[Piece] = []
        cached = synthesized = 0
        for part in prompt.parts:
            if isinstance(part, Fragment):
                pieces.append(Piece("fragment", part.id, self.fragment_audio(part.id, rate), part.text))
            else:
                audio, hit = self._variable_audio(part, rate)
                cached += hit
                synthesized += not hit
                pieces.append(Piece("variable", part.name, audio))
        if not pieces:
            raise PromptRenderError(f"prompt for node {prompt.node!r} has no parts")
        splicer = PromptSplicer(rate, crossfade_ms=self.settings.crossfade_ms, pauses=self._pauses)
        spliced = splicer.splice(pieces)
        elapsed = (time.perf_counter() - started) * 1000
        log_event(
            log, "prompt.rendered", logging.DEBUG, node=prompt.node, rate=rate, parts=len(pieces),
            variables_cached=cached, variables_synthesized=synthesized, render_ms=round(elapsed, 2),
        )
        return RenderedPrompt(
            samples=spliced.audio,
            rate=rate,
            parts=spliced.parts,
            node=prompt.node,
            interruptible=prompt.interruptible,
            text=prompt.text,
            variables_cached=cached,
            variables_synthesized=synthesized,
            render_ms=elapsed,
        )

    def render_in_thread(
        self, prompt: Prompt, rate: int, reactor: IReactorFromThreads, pool: ThreadPool
    ) -> Deferred[RenderedPrompt]:
        """For callers on the reactor when `is_warm` is false: TTS must not block the reactor."""
        return deferToThreadPool(reactor, pool, self.render, prompt, rate)

    def is_warm(self, prompt: Prompt, rate: int) -> bool:
        """True when rendering needs no file decoding and no TTS (safe to call on the reactor)."""
        for part in prompt.parts:
            if isinstance(part, Fragment):
                if (part.id, rate) not in self._fragments:
                    return False
            elif self._variable_key(part, rate) not in self.cache:
                return False
        return True

    # --- warming -------------------------------------------------------------------------------

    def prerender(self, fragment_ids: Iterable[str], rate: int) -> int:
        """Prepare fixed fragments at a call rate (campaign start); returns how many were new."""
        _check_rate(rate)
        started = time.perf_counter()
        fresh = 0
        for frag_id in fragment_ids:
            if (frag_id, rate) not in self._fragments:
                self.fragment_audio(frag_id, rate)
                fresh += 1
        log_event(log, "prompt.prerendered", rate=rate, fragments=fresh, pinned_bytes=self.pinned_bytes(),
                  elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
        return fresh

    def prepare(self, variables: Iterable[Variable], rate: int) -> int:
        """Synthesize a borrower's variable pieces when the call is placed; returns TTS runs made."""
        _check_rate(rate)
        made = 0
        for variable in variables:
            _, hit = self._variable_audio(variable, rate)
            made += not hit
        return made

    def pinned_bytes(self) -> int:
        with self._lock:
            return sum(int(a.nbytes) for a in self._fragments.values())

    # --- pieces ---------------------------------------------------------------------------------

    def fragment_audio(self, fragment_id: str, rate: int) -> Samples:
        key = (fragment_id, rate)
        audio = self._fragments.get(key)
        if audio is not None:
            return audio
        if fragment_id not in self.assets:
            raise PromptRenderError(f"fragment {fragment_id!r} has no recording in {self.assets.manifest}")
        rec = self.assets.recording(fragment_id)
        audio = self._shape(resample(rec.samples, rec.rate, rate), rate)
        if audio.size == 0 and not is_punctuation_only(rec.text):
            raise PromptRenderError(f"fragment {fragment_id!r} ({rec.path}) is silent")
        audio.setflags(write=False)
        with self._lock:
            self._fragments[key] = audio
        return audio

    def _variable_key(self, variable: Variable, rate: int) -> str:
        s = self.settings
        words = self._words(variable)
        return content_key(self.tts.voice_id, words, rate, s.target_dbfs, s.trim_keep_ms, s.crossfade_ms)

    def _words(self, variable: Variable) -> str:
        try:
            return self.reader.speak(variable.kind, variable.value)
        except VariableReadingError as exc:
            raise PromptRenderError(f"variable {variable.name!r} ({variable.kind}): {exc}") from None

    def _variable_audio(self, variable: Variable, rate: int) -> tuple[Samples, bool]:
        key = self._variable_key(variable, rate)
        audio = self.cache.get(key)
        if audio is not None:
            return audio, True
        try:
            speech = self.tts.synthesize(self._words(variable))
        except TtsError as exc:
            raise PromptRenderError(f"variable {variable.name!r}: TTS failed: {exc}") from None
        audio = self._shape(resample(speech.samples, speech.rate, rate), rate)
        if audio.size == 0:
            raise PromptRenderError(f"variable {variable.name!r}: TTS produced only silence")
        self.cache.put(key, audio)
        return audio, False

    def _shape(self, samples: Samples, rate: int) -> Samples:
        s = self.settings
        signal = trim_edges(to_float(samples), rate, keep_ms=s.trim_keep_ms)
        if signal.size == 0:
            return samples[:0]
        signal = normalize_level(signal, rate, s.target_dbfs)
        return to_int16(fade_edges(signal, int(rate * s.crossfade_ms / 1000)))


def _check_rate(rate: int) -> None:
    if rate not in CALL_RATES:
        raise PromptRenderError(f"call rate must be 8000 or 16000 Hz, not {rate}")



def build_renderer(settings: PromptSettings, catalogue: Mapping[str, str] | None = None) -> PromptRenderer:
    """The production wiring: the configured TTS engine, validated assets, a byte-bounded cache."""
    from prompts.tts import make_tts

    tts = make_tts(settings.tts_engine, settings.tts_voice, settings.tts_speed_wpm, settings.tts_pitch)
    assets = AssetLibrary.load(settings.manifest, catalogue)
    return PromptRenderer(assets, tts, RenderCache(settings.cache_max_bytes), settings)

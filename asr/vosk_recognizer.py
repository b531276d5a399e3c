"""Streaming recognition with Vosk (Kaldi): one shared model per process, one recognizer per call.

Decoding is CPU-bound C code, so every call into Vosk runs on a bounded Twisted thread pool and the
results come back to the reactor. Each stream has at most one job in flight: audio that arrives
meanwhile is batched into the next job, so the work stays ordered per call, a slow pool never
builds an unbounded backlog of tiny jobs, and audio is decoded while the borrower is still talking
(the final result then only has to finish the last few frames).

Kaldi recognizers are costly to make (about 100 ms) and slow on their first utterance (their
decoding-graph caches start cold: about 3x the CPU of later utterances with the lookahead graphs of
the small models), so they are created on the pool, never on the reactor, and a closed call's
recognizer is reset and kept for the next call (up to `keep_idle` of them).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from asr.normalize import normalize_transcript
from asr.recognition import ModelError, PartialListener, RecognitionClosed, RecognitionResult
from pcm.resample import StreamResampler
from telemetry.logging import log_event

log = logging.getLogger(__name__)

KALDI_DEFAULT_RATE = 16000  # what Kaldi assumes when mfcc.conf has no --sample-frequency
INSTALL_HINT = (
    "install the Mandarin model vosk-model-small-cn-0.22 (vosk-model-cn-0.22 for accuracy) from the "
    "Vosk model list, unpack it and set [asr] model_path to the unpacked folder"
)


@dataclass(frozen=True)
class VoskModel:
    path: Path
    sample_rate: int
    model: Any  # vosk.Model


def _listing(path: Path) -> str:
    if not path.exists():
        return "nothing (the path does not exist)"
    if not path.is_dir():
        return "a file, not a folder"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not names:
        return "an empty folder"
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")


def model_sample_rate(path: Path) -> int:
    """The model's rate from conf/mfcc.conf (`--sample-frequency`), else Kaldi's default."""
    conf = path / "conf" / "mfcc.conf"
    for line in conf.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.split("#", 1)[0].strip().partition("=")
        if key == "--sample-frequency":
            try:
                return int(float(value))
            except ValueError:
                raise ModelError(f"Vosk model at {path}: {conf} has a bad --sample-frequency {value!r}") from None
    return KALDI_DEFAULT_RATE


def load_vosk_model(path: Path | str) -> VoskModel:
    """Check the folder's layout before handing it to Vosk, whose own error says only "failed"."""
    folder = Path(path)
    missing = [
        rel
        for rel in ("am/final.mdl", "conf/mfcc.conf")
        if not (folder / rel).is_file()
    ]
    has_graph = (folder / "graph" / "HCLG.fst").is_file() or (
        (folder / "graph" / "HCLr.fst").is_file() and (folder / "graph" / "Gr.fst").is_file()
    )
    if not has_graph:
        missing.append("graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst)")
    if missing:
        raise ModelError(
            f"Vosk model at {folder}: missing {', '.join(missing)}; found {_listing(folder)}; {INSTALL_HINT}"
        )
    rate = model_sample_rate(folder)
    import vosk

    vosk.SetLogLevel(-1)
    try:
        model = vosk.Model(str(folder))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise ModelError(
            f"Vosk model at {folder}: Vosk could not load it ({exc}); found {_listing(folder)}; {INSTALL_HINT}"
        ) from None
    return VoskModel(path=folder, sample_rate=rate, model=model)


_shared: dict[Path, VoskModel] = {}
_shared_lock = threading.Lock()


def shared_vosk_model(path: Path | str) -> VoskModel:
    """One loaded model per folder per process: a model is hundreds of MB, a recognizer a few."""
    key = Path(path).resolve()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load_vosk_model(key)
            log_event(log, "asr.model_loaded", model_path=str(key), model_rate=_shared[key].sample_rate)
        return _shared[key]


@dataclass
class _Job:
    audio: bytes
    want_partial: bool
    final: Deferred[RecognitionResult] | None
    segment: bool = False


_SEGMENT = object()  # queue marker: close a decoding segment here (see VoskStream.prefinalize)


def new_kaldi_recognizer(model: VoskModel) -> Any:
    """Worker-thread only: takes about 100 ms."""
    import vosk

    rec = vosk.KaldiRecognizer(model.model, model.sample_rate)
    rec.SetWords(True)
    return rec


class VoskStream:
    def __init__(
        self, model: VoskModel, rate: int, reactor: Any, pool: Any, partial_interval_ms: int,
        on_partial: PartialListener, *, recognizer: Any = None, give_back: Callable[[Any], None] | None = None,
    ) -> None:
        self._model = model
        self._rec: Any = recognizer  # None: made by the first job, on the pool
        self._give_back = give_back
        self._resampler = StreamResampler(rate, model.sample_rate)
        self._reactor = reactor
        self._pool = pool
        self._on_partial = on_partial
        self._partial_bytes = rate * 2 * partial_interval_ms // 1000
        self._refresh_min_bytes = rate * 2 * 60 // 1000
        self._since_partial = 0
        self._partial_owed = False
        self._queue: deque[bytes | Deferred[RecognitionResult] | object] = deque()
        self._busy = False
        self._closed = False
        self._drain_waiters: list[Deferred[None]] = []
        self._close_waiters: list[Deferred[None]] = []
        self._committed: list[dict[str, Any]] = []  # touched only inside jobs (one at a time)

    # -- reactor side
    def feed(self, pcm: bytes) -> None:
        if self._closed:
            return
        self._queue.append(pcm)
        self._kick()

    def refresh_partial(self) -> None:
        if self._since_partial >= self._refresh_min_bytes:  # VAD flicker must not flood the pool
            self._partial_owed = True
            self._kick()

    def prefinalize(self) -> None:
        """Close the decoding segment now, during the hangover, so the costly final step (~100 ms of
        CPU: lattice determinization) is done before the utterance ends. If speech resumes, it is
        decoded as a new segment and the texts are joined; the final then only covers the tail."""
        if not self._closed:
            self._queue.append(_SEGMENT)
            self._kick()

    def finish(self) -> Deferred[RecognitionResult]:
        d: Deferred[RecognitionResult] = Deferred()
        if self._closed:
            d.errback(RecognitionClosed("vosk stream closed"))
            return d
        self._queue.append(d)
        self._kick()
        return d

    def hint(self, text: str) -> None:
        """Real recognition trusts the audio only."""

    def drained(self) -> Deferred[None]:
        if not self._busy and not self._queue:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._drain_waiters.append(d)
        return d

    def close(self) -> Deferred[None]:
        if not self._closed:
            self._closed = True
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, Deferred):
                    item.errback(RecognitionClosed("vosk stream closed before its final result"))
        d: Deferred[None] = Deferred()
        self._close_waiters.append(d)
        if not self._busy:
            self._release()
        return d

    def _kick(self) -> None:
        if self._busy or self._closed or not (self._queue or self._partial_owed):
            return
        chunks: list[bytes] = []
        final: Deferred[RecognitionResult] | None = None
        segment = False
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, Deferred):
                final = item
                break
            if item is _SEGMENT:
                segment = True
                break
            assert isinstance(item, bytes)
            chunks.append(item)
        audio = b"".join(chunks)
        self._since_partial += len(audio)
        want_partial = final is None and (
            segment or self._partial_owed or self._since_partial >= self._partial_bytes
        )
        if want_partial or final is not None:
            self._since_partial = 0
            self._partial_owed = False
        job = _Job(audio, want_partial, final, segment)
        self._busy = True
        worked = deferToThreadPool(
            self._reactor, self._pool, self._work, job.audio, job.want_partial, job.final, job.segment
        )
        worked.addBoth(self._job_done, job)

    def _job_done(self, outcome: Any, job: _Job) -> None:
        self._busy = False
        if self._closed:
            if job.final is not None:
                job.final.errback(RecognitionClosed("vosk stream closed before its final result"))
            self._release()
            return
        if isinstance(outcome, Failure):
            log_event(log, "asr.vosk_failed", logging.ERROR, error=str(outcome.value))
            if job.final is not None:
                job.final.errback(outcome)
        elif job.final is not None:
            job.final.callback(outcome)
        elif outcome is not None:
            self._on_partial(outcome)
        self._kick()
        if not self._busy and not self._queue:
            waiters, self._drain_waiters = self._drain_waiters, []
            for d in waiters:
                d.callback(None)

    def _release(self) -> None:
        """Hand the recognizer back (reset on the pool) or drop it; never while a job uses it."""
        rec, self._rec = self._rec, None
        if rec is None or self._give_back is None:
            self._closed_now()
            return
        self._busy = True
        reset = deferToThreadPool(self._reactor, self._pool, rec.Reset)
        give_back = self._give_back

        def reset_done(outcome: object) -> None:
            self._busy = False
            if not isinstance(outcome, Failure):
                give_back(rec)
            self._closed_now()

        reset.addBoth(reset_done)

    def _closed_now(self) -> None:
        for d in self._drain_waiters + self._close_waiters:
            d.callback(None)
        self._drain_waiters, self._close_waiters = [], []

    # -- worker thread side
    def _work(self, audio: bytes, want_partial: bool, final: object, segment: bool = False) -> Any:
        if self._rec is None:
            self._rec = new_kaldi_recognizer(self._model)
        rec = self._rec
        if audio:
            samples = self._resampler.process(np.frombuffer(audio, "<i2"))
            if rec.AcceptWaveform(samples.astype("<i2").tobytes()):
                # Vosk's own endpointer closed a segment; keep it, our VAD decides utterances.
                self._committed.append(json.loads(rec.Result()))
        if segment:
            self._committed.append(json.loads(rec.FinalResult()))  # the recognizer starts a new segment
        if final is not None:
            parts = [*self._committed, json.loads(rec.FinalResult())]
            self._committed = []
            words = [w for p in parts for w in p.get("result", [])]
            text = normalize_transcript(" ".join(p.get("text", "") for p in parts))
            conf = round(sum(w["conf"] for w in words) / len(words), 3) if words else None
            return RecognitionResult(text, conf)
        if want_partial:
            current = json.loads(rec.PartialResult()).get("partial", "")
            return normalize_transcript(" ".join([*(p.get("text", "") for p in self._committed), current]))
        return None


class VoskRecognizer:
    name = "vosk"

    def __init__(
        self, model: VoskModel, reactor: Any, pool: Any, partial_interval_ms: int = 200, keep_idle: int = 8
    ) -> None:
        self.model = model
        self._reactor = reactor
        self._pool = pool
        self._partial_interval_ms = partial_interval_ms
        self._keep_idle = keep_idle
        self.idle: list[Any] = []  # reset recognizers with warm caches, reactor-owned

    def open_stream(self, rate: int, on_partial: PartialListener) -> VoskStream:
        return VoskStream(
            self.model, rate, self._reactor, self._pool, self._partial_interval_ms, on_partial,
            recognizer=self.idle.pop() if self.idle else None, give_back=self._take_back,
        )

    def _take_back(self, recognizer: Any) -> None:
        if len(self.idle) < self._keep_idle:
            self.idle.append(recognizer)

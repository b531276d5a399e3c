"""The `[prompts]` section of `server.toml`: where recordings live, the TTS voice, levels, pauses, cache.

Parsed once at start-up; `prompts/` receives `PromptSettings` and never reads TOML itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.toml_reader import Table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "audio_assets" / "manifest.toml"


@dataclass(frozen=True)
class PromptSettings:
    manifest: Path = DEFAULT_MANIFEST
    # espeak-ng: subprocess, ~20-60 ms per variable, same audio for the same words every time.
    # libespeak-ng: in-process, ~2-6 ms, but its output drifts slightly with what it said before.
    tts_engine: str = "espeak-ng"
    # plain "cmn" reads Chinese as pinyin-with-English-rules in espeak-ng 1.51 (docs/prompts.md)
    tts_voice: str = "cmn-latn-pinyin"
    tts_speed_wpm: int = 185
    tts_pitch: int = 50
    target_dbfs: float = -20.0  # gated speech level every piece is normalized to
    crossfade_ms: float = 8.0  # overlap where two pieces join without a pause
    trim_keep_ms: float = 15.0  # audio kept around the speech when edge silence is trimmed
    clause_pause_ms: int = 120  # after/before ，、；：
    sentence_pause_ms: int = 250  # after/before 。！？
    part_gap_ms: int = 0  # any other join (0 = crossfade straight through)
    cache_max_mb: float = 32.0  # rendered variables, LRU by bytes

    @property
    def cache_max_bytes(self) -> int:
        return int(self.cache_max_mb * 1024 * 1024)


_KEYS = [
    "manifest", "tts_engine", "tts_voice", "tts_speed_wpm", "tts_pitch", "target_dbfs", "crossfade_ms",
    "trim_keep_ms", "clause_pause_ms", "sentence_pause_ms", "part_gap_ms", "cache_max_mb",
]


def parse_prompts(t: Table) -> PromptSettings:
    """A relative `manifest` is taken relative to the working directory, like other paths in server.toml."""
    t.reject_unknown(_KEYS)
    d = PromptSettings()
    manifest = t.string("manifest", None)
    return PromptSettings(
        manifest=d.manifest if manifest is None else Path(manifest),
        tts_engine=t.string("tts_engine", d.tts_engine, choices=("libespeak-ng", "espeak-ng")),
        tts_voice=t.string("tts_voice", d.tts_voice),
        tts_speed_wpm=t.integer("tts_speed_wpm", d.tts_speed_wpm, min=80, max=450),
        tts_pitch=t.integer("tts_pitch", d.tts_pitch, min=0, max=99),
        target_dbfs=t.number("target_dbfs", d.target_dbfs, min=-40, max=-10),
        crossfade_ms=t.number("crossfade_ms", d.crossfade_ms, min=0, max=50),
        trim_keep_ms=t.number("trim_keep_ms", d.trim_keep_ms, min=0, max=200),
        clause_pause_ms=t.integer("clause_pause_ms", d.clause_pause_ms, min=0, max=2000),
        sentence_pause_ms=t.integer("sentence_pause_ms", d.sentence_pause_ms, min=0, max=3000),
        part_gap_ms=t.integer("part_gap_ms", d.part_gap_ms, min=0, max=2000),
        cache_max_mb=t.number("cache_max_mb", d.cache_max_mb, min=0.1, max=4096),
    )

"""Placeholder recordings for every fragment of the script library, made with espeak-ng.

They let everything run out of the box until a call center records the fragments in a studio. The
run is incremental: a fragment is (re)made only when its text in the fragment catalogue differs from
the text the manifest says was recorded, or its file is gone. Studio recordings (any speaker not
starting with `placeholder:`) are never overwritten or deleted; when their script text changed they
are reported, because only a person can re-record them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pcm.frames import FRAME_MS
from pcm.resample import resample
from pcm.wav import Samples, write_wav
from prompts.assets import ManifestEntry, read_manifest
from prompts.shaping import fade_edges, normalize_level, to_float, to_int16, trim_edges
from prompts.splicer import is_punctuation_only
from prompts.tts import EspeakTts

PLACEHOLDER_PREFIX = "placeholder:"
ASSET_RATE = 16000
TARGET_DBFS = -20.0
_SAFE_ID = re.compile(r"[a-z][a-z0-9_]*")


@dataclass
class GenerationReport:
    made: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stale_studio: list[str] = field(default_factory=list)  # studio text differs from the script
    unused_studio: list[str] = field(default_factory=list)
    english_reading: list[str] = field(default_factory=list)  # espeak switched to English rules
    total_bytes: int = 0


def generate_placeholders(
    catalogue: Mapping[str, str],
    manifest: Path,
    tts: EspeakTts,
    *,
    force: bool = False,
    rate: int = ASSET_RATE,
) -> GenerationReport:
    """Bring `manifest` and its WAVs in line with `catalogue`; returns what was done.

    If synthesis fails part-way, the manifest still records exactly what is on disk (finished
    fragments with their new text, the rest as before), so a rerun picks up where this one stopped.
    """
    report = GenerationReport()
    existing: dict[str, ManifestEntry] = read_manifest(manifest) if manifest.exists() else {}
    bad_ids = [frag_id for frag_id in catalogue if not _SAFE_ID.fullmatch(frag_id)]
    if bad_ids:
        raise ValueError(f"fragment ids {bad_ids} cannot be file names (use a-z, 0-9, _)")
    folder = manifest.parent
    entries: dict[str, ManifestEntry] = dict(existing)
    speaker = PLACEHOLDER_PREFIX + tts.voice_id
    try:
        for frag_id in sorted(catalogue):
            text = catalogue[frag_id]
            old = existing.get(frag_id)
            if old is not None and not old.speaker.startswith(PLACEHOLDER_PREFIX):
                (report.kept if old.text == text else report.stale_studio).append(frag_id)
                continue
            if old is not None and old.text == text and (folder / old.file).is_file() and not force:
                report.kept.append(frag_id)
                continue
            relative = f"fragments/{frag_id}.wav"
            audio = _placeholder_audio(tts, text, rate)
            tmp = folder / f"fragments/.{frag_id}.wav.tmp"
            write_wav(tmp, audio, rate)
            tmp.replace(folder / relative)  # never a half-written WAV under the real name
            entries[frag_id] = ManifestEntry(frag_id, relative, text, speaker, rate)
            report.made.append(frag_id)
            if not is_punctuation_only(text) and "(en)" in tts.phonemes(text):
                report.english_reading.append(frag_id)
        for frag_id, old in existing.items():
            if frag_id in catalogue:
                continue
            if old.speaker.startswith(PLACEHOLDER_PREFIX):
                (folder / old.file).unlink(missing_ok=True)
                del entries[frag_id]
                report.removed.append(frag_id)
            else:
                report.unused_studio.append(frag_id)
    finally:
        write_manifest(manifest, entries)
    report.total_bytes = sum((folder / e.file).stat().st_size for e in entries.values() if (folder / e.file).exists())
    return report


def _placeholder_audio(tts: EspeakTts, text: str, rate: int) -> Samples:
    if is_punctuation_only(text):
        return np.zeros(rate * FRAME_MS // 1000, np.int16)  # a valid, silent file: the pause is the splicer's
    speech = tts.synthesize(text)
    signal = trim_edges(to_float(resample(speech.samples, speech.rate, rate)), rate, keep_ms=15)
    signal = normalize_level(signal, rate, TARGET_DBFS)
    return to_int16(fade_edges(signal, rate * 5 // 1000))


def write_manifest(manifest: Path, entries: Mapping[str, ManifestEntry]) -> None:
    """Sorted, one table per fragment, so regenerations diff cleanly in git."""
    lines = [
        "# Prompt fragment recordings: id -> file (relative to this folder), text recorded, speaker, rate.",
        "# Replace a WAV with a studio recording of exactly this text and set speaker to the talent's name;",
        "# audio_assets/generate.py then leaves it alone. Recording spec: audio_assets/RECORDING_SPEC.md.",
        "",
    ]
    for frag_id in sorted(entries):
        e = entries[frag_id]
        lines += [
            f"[fragments.{frag_id}]",
            f"file = {_toml_str(e.file)}",
            f"text = {_toml_str(e.text)}",
            f"speaker = {_toml_str(e.speaker)}",
            f"rate = {e.rate}",
            "",
        ]
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(manifest)


def _toml_str(value: str) -> str:
    # a JSON string with non-ASCII kept is a valid TOML basic string
    return json.dumps(value, ensure_ascii=False)

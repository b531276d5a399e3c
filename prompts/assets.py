"""The recordings behind fixed wording: a manifest of fragment id -> WAV, validated as a whole.

A call center swaps placeholder audio for studio recordings by replacing files, so loading checks
everything a bad swap can break and reports *all* problems at once, each with fragment id and path:
a missing or unreadable file, a wrong format, a fragment the scripts need but nobody recorded, a
recording no script uses, and a recording made for different words than the script now says (the
compliance review approved the script text, so the audio must say exactly that).
"""

from __future__ import annotations

import tomllib
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pcm.wav import Samples, WavError, read_wav

ALLOWED_RATES = (8000, 16000)
_ENTRY_KEYS = ("file", "text", "speaker", "rate")


@dataclass(frozen=True)
class AssetProblem:
    fragment_id: str
    path: Path | None
    reason: str

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path is not None else ""
        return f"fragment {self.fragment_id!r}{where}: {self.reason}"


class AssetError(ValueError):
    """The manifest or its recordings cannot be used; `problems` lists every one found."""

    def __init__(self, manifest: Path, problems: list[AssetProblem]) -> None:
        self.manifest = manifest
        self.problems = tuple(problems)
        lines = "\n  ".join(str(p) for p in problems)
        super().__init__(f"{manifest}: {len(problems)} problem(s) with prompt recordings:\n  {lines}")


@dataclass(frozen=True)
class FragmentRecording:
    id: str
    path: Path
    text: str
    speaker: str
    rate: int
    samples: Samples  # mono int16 at `rate`


@dataclass(frozen=True)
class ManifestEntry:
    id: str
    file: str  # relative to the manifest's folder
    text: str
    speaker: str
    rate: int


def read_manifest(manifest: Path | str) -> dict[str, ManifestEntry]:
    """Parse the manifest only (no audio); structural errors are `AssetError`s naming the entry."""
    path = Path(manifest)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise AssetError(path, [AssetProblem("*", path, "manifest file not found")]) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AssetError(path, [AssetProblem("*", path, f"unreadable manifest ({exc})")]) from None
    fragments = data.get("fragments", {})
    problems: list[AssetProblem] = []
    if not isinstance(fragments, dict) or set(data) - {"fragments"}:
        raise AssetError(path, [AssetProblem("*", path, "expected only [fragments.<id>] tables")])
    entries: dict[str, ManifestEntry] = {}
    for frag_id, entry in fragments.items():
        if not isinstance(entry, dict):
            problems.append(AssetProblem(frag_id, None, "expected a table with file, text, speaker, rate"))
            continue
        unknown = sorted(set(entry) - set(_ENTRY_KEYS))
        missing = [k for k in _ENTRY_KEYS if k not in entry]
        if unknown or missing:
            problems.append(AssetProblem(frag_id, None, f"manifest keys missing {missing}, unknown {unknown}"))
            continue
        file, text, speaker, rate = entry["file"], entry["text"], entry["speaker"], entry["rate"]
        if not all(isinstance(v, str) and v.strip() for v in (file, text, speaker)) or not isinstance(rate, int):
            problems.append(
                AssetProblem(frag_id, None, "file, text, speaker must be non-empty strings and rate an integer")
            )
            continue
        entries[frag_id] = ManifestEntry(frag_id, file, text, speaker, rate)
    if problems:
        raise AssetError(path, problems)
    return entries


class AssetLibrary:
    """Every fragment recording, loaded and checked at start-up (a few MB of 16 kHz mono)."""

    def __init__(self, manifest: Path, recordings: Mapping[str, FragmentRecording]) -> None:
        self.manifest = manifest
        self.recordings = dict(recordings)

    @classmethod
    def load(cls, manifest: Path | str, catalogue: Mapping[str, str] | None = None) -> AssetLibrary:
        """Load and validate; with `catalogue` (fragment id -> script text) also check coverage."""
        path = Path(manifest)
        entries = read_manifest(path)
        problems: list[AssetProblem] = []
        recordings: dict[str, FragmentRecording] = {}
        for entry in entries.values():
            wav_path = (path.parent / entry.file).resolve()
            problem = _check_format(entry, wav_path)
            if problem is not None:
                problems.append(problem)
                continue
            try:
                audio = read_wav(wav_path)
            except WavError as exc:
                problems.append(AssetProblem(entry.id, wav_path, f"unreadable recording: {exc}"))
                continue
            recordings[entry.id] = FragmentRecording(
                entry.id, wav_path, entry.text, entry.speaker, audio.rate, audio.channel("mono")
            )
        if catalogue is not None:
            problems.extend(coverage_problems(entries, catalogue, path))
        if problems:
            raise AssetError(path, problems)
        return cls(path, recordings)

    def __contains__(self, fragment_id: str) -> bool:
        return fragment_id in self.recordings

    def recording(self, fragment_id: str) -> FragmentRecording:
        try:
            return self.recordings[fragment_id]
        except KeyError:
            raise KeyError(f"fragment {fragment_id!r} has no recording in {self.manifest}") from None


def coverage_problems(
    entries: Mapping[str, ManifestEntry], catalogue: Mapping[str, str], manifest: Path
) -> list[AssetProblem]:
    problems: list[AssetProblem] = []
    for frag_id, text in catalogue.items():
        entry = entries.get(frag_id)
        if entry is None:
            problems.append(AssetProblem(frag_id, None, f"the scripts use it but {manifest.name} has no recording"))
        elif entry.text != text:
            problems.append(
                AssetProblem(
                    frag_id,
                    manifest.parent / entry.file,
                    f"recorded text {entry.text!r} differs from the script text {text!r}"
                    " (re-record, or run audio_assets/generate.py for placeholders)",
                )
            )
    for frag_id, entry in entries.items():
        if frag_id not in catalogue:
            problems.append(AssetProblem(frag_id, manifest.parent / entry.file, "no script uses this fragment"))
    return problems


def _check_format(entry: ManifestEntry, path: Path) -> AssetProblem | None:
    """Format rules from the recording spec, checked on the header (read_wav would convert silently)."""
    if not path.is_file():
        return AssetProblem(entry.id, path, "recording file is missing")
    try:
        with wave.open(str(path), "rb") as wf:
            channels, width, rate, frames = wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()
    except (wave.Error, EOFError) as exc:
        return AssetProblem(entry.id, path, f"not a PCM WAV file ({exc})")
    except OSError as exc:
        return AssetProblem(entry.id, path, f"cannot read ({exc.strerror or exc})")
    wrong: list[str] = []
    if channels != 1:
        wrong.append(f"{channels} channels (need mono)")
    if width != 2:
        wrong.append(f"{8 * width}-bit (need 16-bit)")
    if rate not in ALLOWED_RATES:
        wrong.append(f"{rate} Hz (need 8000 or 16000)")
    elif rate != entry.rate:
        wrong.append(f"{rate} Hz but the manifest says {entry.rate}")
    if frames == 0:
        wrong.append("no audio")
    if wrong:
        return AssetProblem(entry.id, path, "wrong format: " + ", ".join(wrong))
    return None

"""The placeholder generator is incremental and never overwrites studio recordings."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts.assets import AssetLibrary, ManifestEntry, read_manifest
from prompts.placeholders import generate_placeholders, write_manifest
from prompts.shaping import speech_level_dbfs, to_float
from prompts.tts import EspeakTts, Speech, TtsError

pytestmark = pytest.mark.integration


def test_generates_then_only_remakes_what_changed(tmp_path: Path) -> None:
    """First run makes all; a rerun makes none; a changed text is remade; a dropped fragment removed."""
    manifest = tmp_path / "audio" / "manifest.toml"
    tts = EspeakTts()
    catalogue = {"hi": "您好，", "bye": "再见。", "dot": "。"}
    first = generate_placeholders(catalogue, manifest, tts)
    assert sorted(first.made) == ["bye", "dot", "hi"]
    lib = AssetLibrary.load(manifest, catalogue)
    hi = lib.recording("hi")
    assert hi.rate == 16000 and abs(speech_level_dbfs(to_float(hi.samples), 16000) + 20) < 0.5
    assert not lib.recording("dot").samples.any()  # punctuation only: silent
    assert generate_placeholders(catalogue, manifest, tts).made == []
    mtime = (manifest.parent / "fragments/bye.wav").stat().st_mtime_ns
    catalogue = {"hi": "您好！", "bye": "再见。"}
    third = generate_placeholders(catalogue, manifest, tts)
    assert third.made == ["hi"] and third.removed == ["dot"] and third.kept == ["bye"]
    assert (manifest.parent / "fragments/bye.wav").stat().st_mtime_ns == mtime
    assert not (manifest.parent / "fragments/dot.wav").exists()
    AssetLibrary.load(manifest, catalogue)


def test_studio_recordings_are_left_alone_and_reported(tmp_path: Path) -> None:
    """A studio take whose script text changed, or that no script uses, is kept and reported."""
    manifest = tmp_path / "manifest.toml"
    generate_placeholders({"a": "您好", "b": "谢谢"}, manifest, EspeakTts())
    entries = read_manifest(manifest)
    entries = {k: ManifestEntry(e.id, e.file, e.text, "studio: 王老师", e.rate) for k, e in entries.items()}
    write_manifest(manifest, entries)
    before = (tmp_path / "fragments/a.wav").read_bytes()
    report = generate_placeholders({"a": "您好呀"}, manifest, EspeakTts())
    assert report.stale_studio == ["a"] and report.unused_studio == ["b"] and report.made == []
    assert (tmp_path / "fragments/a.wav").read_bytes() == before
    assert read_manifest(manifest)["a"].speaker == "studio: 王老师"


class FailingAfter(EspeakTts):
    """espeak-ng that breaks after `n` syntheses, like a crash half-way through a regeneration."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def synthesize(self, text: str) -> Speech:
        if self.left == 0:
            raise TtsError("simulated crash")
        self.left -= 1
        return super().synthesize(text)


def test_a_failed_run_leaves_a_manifest_that_matches_the_files(tmp_path: Path) -> None:
    """TTS failing half-way keeps finished fragments recorded and the rest as they were; a rerun finishes."""
    manifest = tmp_path / "manifest.toml"
    generate_placeholders({"a": "您好", "b": "谢谢"}, manifest, EspeakTts())
    changed = {"a": "您好呀", "b": "谢谢您"}
    with pytest.raises(TtsError):
        generate_placeholders(changed, manifest, FailingAfter(1))
    entries = read_manifest(manifest)
    assert entries["a"].text == "您好呀" and entries["b"].text == "谢谢"
    assert not list((tmp_path / "fragments").glob(".*.tmp"))
    assert generate_placeholders(changed, manifest, EspeakTts()).made == ["b"]
    AssetLibrary.load(manifest, changed)

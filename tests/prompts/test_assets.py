"""Loading the manifest reports every broken recording with its fragment id and path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from prompt_fakes import CATALOGUE, voiced

from pcm.wav import write_wav
from prompts.assets import AssetError, AssetLibrary


def test_good_manifest_loads_and_covers_catalogue(make_manifest: Callable[..., Path]) -> None:
    """A complete manifest loads every recording as mono int16 at its own rate."""
    manifest = make_manifest(rates={"hello": 8000})
    lib = AssetLibrary.load(manifest, CATALOGUE)
    assert set(lib.recordings) == set(CATALOGUE)
    assert lib.recording("hello").rate == 8000 and lib.recording("notice").rate == 16000
    assert lib.recording("notice").samples.dtype == np.int16


def problems_of(manifest: Path, catalogue: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(AssetError) as info:
        AssetLibrary.load(manifest, catalogue)
    assert str(manifest) in str(info.value)
    return {p.fragment_id: f"{p.path} {p.reason}" for p in info.value.problems}


def test_missing_and_unreadable_files(make_manifest: Callable[..., Path]) -> None:
    """A deleted file and a file of garbage are both reported, with id and path, in one error."""
    manifest = make_manifest()
    (manifest.parent / "fragments/hello.wav").unlink()
    (manifest.parent / "fragments/notice.wav").write_bytes(b"not audio at all" * 20)
    problems = problems_of(manifest, CATALOGUE)
    assert set(problems) == {"hello", "notice"}
    assert "hello.wav" in problems["hello"] and "missing" in problems["hello"]
    assert "notice.wav" in problems["notice"] and "not a PCM WAV" in problems["notice"]


@pytest.mark.parametrize(
    ("samples", "rate", "reason"),
    [
        (np.zeros((1600, 2), np.int16), 16000, "2 channels"),
        (np.ones(4410, np.int16), 44100, "44100 Hz"),
        (np.ones(800, np.int16), 8000, "manifest says 16000"),
        (np.zeros(0, np.int16), 16000, "no audio"),
    ],
)
def test_wrong_format(make_manifest: Callable[..., Path], samples: np.ndarray, rate: int, reason: str) -> None:
    """Stereo, a non-telephony rate, a rate differing from the manifest, and empty files are refused."""
    manifest = make_manifest()
    write_wav(manifest.parent / "fragments/this_is.wav", samples, rate)
    problems = problems_of(manifest)
    assert list(problems) == ["this_is"] and reason in problems["this_is"]


def test_eight_bit_file_is_wrong_format(make_manifest: Callable[..., Path]) -> None:
    """An 8-bit WAV is refused rather than silently converted."""
    import wave

    manifest = make_manifest()
    with wave.open(str(manifest.parent / "fragments/hello.wav"), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(1)
        wf.setframerate(16000)
        wf.writeframes(b"\x80" * 1600)
    assert "8-bit" in problems_of(manifest)["hello"]


def test_catalogue_coverage(make_manifest: Callable[..., Path]) -> None:
    """Unrecorded script fragments, recordings no script uses, and stale texts are all reported."""
    manifest = make_manifest()
    catalogue = dict(CATALOGUE)
    del catalogue["notice"]  # recorded but no longer used
    catalogue["goodbye"] = "再见。"  # used but not recorded
    catalogue["hello"] = "您好！"  # script text changed since recording
    problems = problems_of(manifest, catalogue)
    assert set(problems) == {"notice", "goodbye", "hello"}
    assert "no script uses" in problems["notice"] and "notice.wav" in problems["notice"]
    assert "no recording" in problems["goodbye"]
    assert "differs from the script text" in problems["hello"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[fragments.a]\nfile = 'a.wav'\n", "keys missing"),
        ("[fragments.a]\nfile = 'a.wav'\ntext = 'x'\nspeaker = 's'\nrate = '16000'\n", "rate an integer"),
        ("[fragments.a]\nfile = 'a.wav'\ntext = ''\nspeaker = 's'\nrate = 16000\n", "non-empty strings"),
        ("[other]\nx = 1\n", r"only \[fragments"),
        ("[fragments\n", "unreadable manifest"),
    ],
)
def test_malformed_manifest(tmp_path: Path, text: str, reason: str) -> None:
    """Structural manifest mistakes are refused before any audio is read."""
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(AssetError, match=reason):
        AssetLibrary.load(manifest)


def test_missing_manifest(tmp_path: Path) -> None:
    """A manifest path that does not exist is a clear error naming it."""
    with pytest.raises(AssetError, match="manifest file not found"):
        AssetLibrary.load(tmp_path / "nope.toml")


def test_voiced_fixture_is_not_silent() -> None:
    """The synthetic speech used by these tests really holds audio at the expected rate."""
    s = voiced("您好", 16000)
    assert s.size > 16000 * 0.3 and np.abs(s).max() > 1000

"""Fixtures for prompt tests: a small manifest of speech-like recordings on disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from prompt_fakes import CATALOGUE, voiced

from pcm.wav import write_wav
from prompts.assets import ManifestEntry
from prompts.placeholders import write_manifest


@pytest.fixture
def make_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Write WAVs + manifest for a catalogue; `rates` picks a file rate per fragment (default 16 kHz)."""

    def make(catalogue: Mapping[str, str] = CATALOGUE, rates: Mapping[str, int] | None = None) -> Path:
        folder = tmp_path / "assets"
        entries = {}
        for frag_id, text in catalogue.items():
            rate = (rates or {}).get(frag_id, 16000)
            rel = f"fragments/{frag_id}.wav"
            write_wav(folder / rel, voiced(text, rate), rate)
            entries[frag_id] = ManifestEntry(frag_id, rel, text, "test", rate)
        write_manifest(folder / "manifest.toml", entries)
        return folder / "manifest.toml"

    return make

"""The [prompts] section parses into PromptSettings and refuses bad values with file and key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.prompts_config import DEFAULT_MANIFEST, PromptSettings
from config.server_config import DEFAULT_SERVER_TOML, load_server_config


def test_shipped_server_toml_gives_defaults() -> None:
    """The repository's server.toml leaves [prompts] at defaults pointing at the shipped manifest."""
    cfg = load_server_config(DEFAULT_SERVER_TOML)
    assert cfg.prompts == PromptSettings()
    assert cfg.prompts.manifest == DEFAULT_MANIFEST and DEFAULT_MANIFEST.is_file()


def test_values_are_read(tmp_path: Path) -> None:
    """Every key in [prompts] reaches the settings object."""
    toml = tmp_path / "server.toml"
    toml.write_text(
        '[prompts]\nmanifest = "x/manifest.toml"\ntts_voice = "cmn"\ntarget_dbfs = -23\ncrossfade_ms = 5\n'
        "clause_pause_ms = 100\nsentence_pause_ms = 300\ncache_max_mb = 8\n",
        encoding="utf-8",
    )
    p = load_server_config(toml).prompts
    assert p.manifest == Path("x/manifest.toml") and p.tts_voice == "cmn" and p.target_dbfs == -23.0
    assert (p.crossfade_ms, p.clause_pause_ms, p.sentence_pause_ms) == (5.0, 100, 300)
    assert p.cache_max_bytes == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("target_dbfs = -3", "prompts.target_dbfs"),
        ("crossfade_ms = 100", "prompts.crossfade_ms"),
        ("tts_engine = 'festival'", "prompts.tts_engine"),
        ("cache_mb = 8", "prompts.cache_mb"),
        ("sentence_pause_ms = 'long'", "prompts.sentence_pause_ms"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    """Out-of-range, unknown and mistyped keys stop start-up naming the file and the dotted key."""
    toml = tmp_path / "server.toml"
    toml.write_text(f"[prompts]\n{body}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=key) as info:
        load_server_config(toml)
    assert str(toml) in str(info.value)


def test_commented_section_in_server_toml_matches_defaults(tmp_path: Path) -> None:
    """Uncommenting the documented [prompts] block changes nothing but spelling the manifest path out."""
    text = DEFAULT_SERVER_TOML.read_text(encoding="utf-8")
    block = text[text.index("# [prompts]") :].split("\n\n")[0]
    toml = tmp_path / "server.toml"
    toml.write_text("\n".join(line[2:] for line in block.splitlines()), encoding="utf-8")
    parsed = load_server_config(toml).prompts
    assert parsed.manifest == Path("audio_assets/manifest.toml")
    assert dataclasses.replace(parsed, manifest=DEFAULT_MANIFEST) == PromptSettings()

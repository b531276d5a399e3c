"""server.toml parsing: defaults, and errors that name file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.server_config import DEFAULT_SERVER_TOML, load_server_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    """The server.toml in the repository parses and names at least one trunk."""
    cfg = load_server_config(DEFAULT_SERVER_TOML)
    assert cfg.media.clock_rate in (8000, 16000)
    assert cfg.trunks and cfg.trunk(cfg.trunks[0].name) is cfg.trunks[0]


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    """An empty file is valid and every section takes its defaults."""
    cfg = load_server_config(write(tmp_path, ""))
    assert cfg.sip.transport == "udp" and cfg.media.codecs == ("PCMA", "PCMU") and cfg.trunks == ()
    assert cfg.media.rtp_timeout_seconds == 20.0


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[media]\nclock_rate = 44100\n", "media.clock_rate", "8000 or 16000"),
        ("[media]\ncodecs = ['G729']\n", "media.codecs", "PCMA"),
        ("[media]\nrtp_timeout_seconds = -1\n", "media.rtp_timeout_seconds", "a number"),
        ("[media]\nrtp_timeout_seconds = 'soon'\n", "media.rtp_timeout_seconds", "a number"),
        ("[media]\nrtp_timeout_seconds = nan\n", "media.rtp_timeout_seconds", "0 (off)"),
        ("[sip]\nport = 'x'\n", "sip.port", "an integer"),
        ("[sip]\ntransport = 'sctp'\n", "sip.transport", "'udp'"),
        ("[sip]\nprot = 5060\n", "sip.prot", "known keys"),
        ("[[trunks]]\nname='a'\nproxy='http://x'\n", "trunks[0].proxy", "SIP URI"),
        ("[[trunks]]\nname='a'\nproxy='sip:x'\nregistrar='sip:x'\n", "trunks[0].username", "password"),
        ("[[trunks]]\nproxy='sip:x'\n", "trunks[0].name", "required"),
        ("[[trunks]]\nname='a'\nproxy='sip:x'\n[[trunks]]\nname='a'\nproxy='sip:y'\n", "trunks[1].name", "once"),
    ],
)
def test_bad_values_name_file_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    """Each bad value is refused with the file, the dotted key and what was expected."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_server_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and expected in message


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    """Broken TOML and a missing file are both ConfigErrors naming the file."""
    with pytest.raises(ConfigError, match="valid TOML"):
        load_server_config(write(tmp_path, "[sip\n"))
    with pytest.raises(ConfigError, match="existing TOML file"):
        load_server_config(tmp_path / "nope.toml")


def test_unknown_trunk_lists_known_ones(tmp_path: Path) -> None:
    """Asking for a trunk that is not configured names the ones that are."""
    cfg = load_server_config(write(tmp_path, "[[trunks]]\nname='ct'\nproxy='sip:1.2.3.4'\n"))
    with pytest.raises(ConfigError, match="known: ct"):
        cfg.trunk("cu")


def test_more_trunks_than_pjsua_accounts_are_refused_at_load(tmp_path: Path) -> None:
    """Six trunks load; a seventh is a ConfigError at start-up, not an abort in every call worker."""
    six = "".join(f"[[trunks]]\nname='t{i}'\nproxy='sip:127.0.0.{i + 1}'\n" for i in range(6))
    assert len(load_server_config(write(tmp_path, six)).trunks) == 6
    with pytest.raises(ConfigError, match=r"trunks\[6\]\.name.*at most 6 trunks"):
        load_server_config(write(tmp_path, six + "[[trunks]]\nname='t6'\nproxy='sip:127.0.0.7'\n"))

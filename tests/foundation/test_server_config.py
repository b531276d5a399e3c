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
        ("[[trunks]]\nname='a'\nproxy='sip:x'\ndomain='sip:203.0.113.5'\n", "trunks[0].domain", "host:port"),
        ("[[trunks]]\nname='a'\nproxy='sip:x'\ndomain='4000@203.0.113.5'\n", "trunks[0].domain", "host:port"),
        ("[[trunks]]\nname='a'\nproxy='sip:x'\ndomain='203.0.113.5:5060;lr'\n", "trunks[0].domain", "host:port"),
        ("[[trunks]]\nname='a'\nproxy='sip:x'\ndomain='203.0.113.5:70000'\n", "trunks[0].domain", "host:port"),
        ("[[trunks]]\nname='a'\nproxy='sip:x'\ndomain=''\n", "trunks[0].domain", "host:port"),
        ("[store]\npath='a.db'\nurl='postgresql://u@h/db'\n", "store.url", "not both"),
        ("[store]\nurl='mysql://u:secret@h/db'\n", "store.url", "postgresql://"),
        ("[store]\nurl='postgresql://u@h'\n", "store.url", "names the database"),
        ("[store]\nurl='postgresql://u@h:99999/db'\n", "store.url", "port"),
        ("[store]\nnode_timeout=1\n", "store.node_timeout", "a number"),
        ("[store]\nnode_id='a b'\n", "store.node_id", "letters"),
    ],
)
def test_bad_values_name_file_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    """Each bad value is refused with the file, the dotted key and what was expected."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_server_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and expected in message


def test_store_url_selects_postgres_and_a_refused_url_is_not_echoed(tmp_path: Path) -> None:
    """[store] url is kept as given (path stays the default); a refused URL's password never appears."""
    cfg = load_server_config(write(tmp_path, "[store]\nurl = 'postgresql://bot@db.local:5433/voicebot'\n"))
    assert cfg.store.url == "postgresql://bot@db.local:5433/voicebot" and cfg.store.node_timeout == 30.0
    with pytest.raises(ConfigError) as info:
        load_server_config(write(tmp_path, "[store]\nurl = 'mysql://bot:hunter2@db/voicebot'\n"))
    assert "hunter2" not in str(info.value)


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


def test_trunk_domain_sets_request_uri_host_and_proxy_stays_the_route(tmp_path: Path) -> None:
    """With `domain` the calls name the carrier while `proxy` (Kamailio) is only the route; without it, the proxy."""
    cfg = load_server_config(write(tmp_path, (
        "[[trunks]]\nname='edge'\nproxy='sip:10.0.0.2:5060;lr'\ndomain='carrier.example.net:5061'\n"
        "[[trunks]]\nname='v6'\nproxy='sip:10.0.0.2'\ndomain='[2001:db8::5]:5060'\n"
        "[[trunks]]\nname='plain'\nproxy='sip:203.0.113.5:5060;transport=udp'\n"
    )))
    assert cfg.trunk("edge").uri_host == "carrier.example.net:5061"
    assert cfg.trunk("edge").proxy == "sip:10.0.0.2:5060;lr"
    assert cfg.trunk("v6").uri_host == "[2001:db8::5]:5060"
    assert cfg.trunk("plain").domain is None and cfg.trunk("plain").uri_host == "203.0.113.5:5060"

"""Authentication hardening: hashed tokens in config, a per-address brake on wrong tokens, `/metrics` token option."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from custom_stack import custom_stack
from twisted.internet.task import Clock

from api.auth import AuthFailureBrake, configured_digests, token_matches
from config.campaign_config import HttpSettings
from config.errors import ConfigError
from config.server_config import load_server_config

TOKEN = "auth-test-token-0123456789abcdef"
HASHED = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()


def test_brake_counts_wrong_tokens_per_address_for_a_minute() -> None:
    """Past the limit an address is told to wait until its oldest counted failure is a minute old; others are not."""
    clock = Clock()
    brake = AuthFailureBrake(3, clock)
    for _ in range(3):
        assert brake.check("127.0.0.1") is None
        brake.record_failure("127.0.0.1")
        clock.advance(10)
    throttled = brake.check("127.0.0.1")
    assert throttled is not None and throttled.retry_after_s == 30  # first failure at 0 s, now 30 s
    assert brake.check("127.0.0.2") is None
    clock.advance(30)
    assert brake.check("127.0.0.1") is None  # the first failure left the window
    clock.advance(60)
    assert brake.check("127.0.0.1") is None and brake.tracked_addresses() == 0


def test_plain_and_hashed_tokens_compare_equal_and_the_hash_is_no_token() -> None:
    """A `sha256:` entry accepts the token it hashes; the hash text itself, or a near miss, is refused."""
    for entry in (TOKEN, HASHED):
        digests = configured_digests((entry,))
        assert token_matches(TOKEN.encode(), digests)
        assert not token_matches(HASHED.encode(), digests)
        assert not token_matches(TOKEN[:-1].encode(), digests)
        assert not token_matches(b"", digests)


def test_http_config_parses_hashes_limit_and_metrics_option(tmp_path: Path) -> None:
    """`[http]` accepts sha256 tokens, the failure limit and `metrics_require_token`; a bad hash names the key."""
    good = tmp_path / "good.toml"
    good.write_text(f'[http]\ntokens = ["{HASHED}"]\nauth_failures_per_minute = 5\nmetrics_require_token = true\n')
    http = load_server_config(good).http
    assert http.tokens == (HASHED,) and http.auth_failures_per_minute == 5 and http.metrics_require_token
    bad = tmp_path / "bad.toml"
    bad.write_text('[http]\ntokens = ["sha256:abc"]\n')
    with pytest.raises(ConfigError, match=r"http\.tokens.*64 hex digits"):
        load_server_config(bad)
    zero = tmp_path / "zero.toml"
    zero.write_text("[http]\nauth_failures_per_minute = 0\n")
    with pytest.raises(ConfigError, match="auth_failures_per_minute"):
        load_server_config(zero)


def test_wrong_tokens_get_429_but_a_valid_token_still_works(tmp_path: Path) -> None:
    """After the limit, wrong tokens from 127.0.0.1 get 429 + Retry-After; the valid token is never locked out."""
    with custom_stack(tmp_path, HttpSettings(port=0, tokens=(TOKEN,), auth_failures_per_minute=3)) as stack:
        h = stack.http
        for i in range(3):
            assert h.call("GET", "/api/campaigns", token=f"guess-{i}-0123456789abcdef").status == 401
        slowed = h.call("GET", "/api/campaigns", token="guess-x-0123456789abcdef")
        assert slowed.status == 429 and "retry after" in slowed.json()["error"]
        assert 1 <= int(slowed.headers["Retry-After"]) <= 60
        assert h.call("GET", "/api/campaigns", token=TOKEN).status == 200
        assert h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "still works"}).status == 201
        assert h.call("GET", "/api/campaigns").status == 401  # no token at all is no guess: plain 401
        assert h.call("GET", "/api/campaigns", token="guess-y-0123456789abcdef").status == 429


def test_hashed_token_in_config_authenticates_the_plain_token(tmp_path: Path) -> None:
    """With only the hash configured, the plain token is accepted and the hash string is not."""
    with custom_stack(tmp_path, HttpSettings(port=0, tokens=(HASHED,))) as stack:
        assert stack.http.call("GET", "/api/campaigns", token=TOKEN).status == 200
        assert stack.http.call("GET", "/api/campaigns", token=HASHED).status == 401


@pytest.mark.parametrize("required", [False, True])
def test_metrics_token_option(tmp_path: Path, required: bool) -> None:
    """`metrics_require_token` makes /metrics answer 401 without a token and 200 with it; off, it is open."""
    with custom_stack(tmp_path, HttpSettings(port=0, tokens=(TOKEN,), metrics_require_token=required)) as stack:
        anonymous = stack.http.call("GET", "/metrics")
        assert anonymous.status == (401 if required else 200)
        with_token = stack.http.call("GET", "/metrics", token=TOKEN)
        assert with_token.status == 200 and b"voicebot_" in with_token.body

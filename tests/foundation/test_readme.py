"""The README only points inside the repository, and what it tells a new user to run exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_links_stay_inside_the_repository() -> None:
    """Every markdown link and backticked relative path resolves to a file or folder of this repository."""
    targets = re.findall(r"\]\(([^)#\s]+)", README)
    targets += [p for p in re.findall(r"`(\.\.?/[^`\s]+)`", README)]
    assert targets
    for target in targets:
        assert not re.match(r"[a-z]+://", target), f"external link {target}"
        resolved = (ROOT / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{target} points outside the repository"
        assert resolved.exists(), f"{target} does not exist"


def test_readme_explains_serve_without_a_mandarin_model() -> None:
    """The README shows `recognizer = "sim"`, `--no-session` and a token, and the options it uses parse."""
    from server import build_parser

    assert 'recognizer = "sim"' in README and "--no-session" in README and "tokens = [" in README
    args = build_parser().parse_args(["serve", "--config", "my-server.toml", "--no-session"])
    assert args.no_session is True

"""`server.py serve` refuses to start on scripts the linter rejects or a prompt manifest that does not cover them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from cli.serve import script_problems
from config.dialogue_config import DEFAULT_SCRIPTS_DIR
from config.prompts_config import DEFAULT_MANIFEST
from config.server_config import load_server_config

ROOT = Path(__file__).resolve().parents[2]


def _write_config(tmp: Path, scripts: Path = DEFAULT_SCRIPTS_DIR, manifest: Path = DEFAULT_MANIFEST) -> Path:
    config = tmp / "server.toml"
    config.write_text(
        '[sip]\nport = 0\n[http]\nport = 0\ntokens = ["preflight-test-token-0123456789"]\n'
        f'[store]\npath = "{tmp / "store.sqlite3"}"\n'
        f'[dialogue]\nscripts_dir = "{scripts}"\n[prompts]\nmanifest = "{manifest}"\n'
    )
    return config


def _serve(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "serve", "--config", str(config), "--no-session"],
        cwd=config.parent, capture_output=True, text=True, timeout=30,
    )


def test_shipped_scripts_and_manifest_pass_the_preflight() -> None:
    """The repository's own scripts and recordings pass, so the check does not block a normal start."""
    library, problems = script_problems(load_server_config())
    assert problems == [] and library is not None and library.script_sets


def test_serve_refuses_a_script_with_a_forbidden_phrase(tmp_path: Path) -> None:
    """A fragment with a C8 phrase: exit 2, the lint error is printed, nothing listens and no store is created."""
    scripts = tmp_path / "scripts"
    shutil.copytree(DEFAULT_SCRIPTS_DIR, scripts)
    forbidden = tomllib.loads((scripts / "compliance.toml").read_text())["forbidden"][0]
    catalogue = scripts / "fragments.toml"
    fragments = tomllib.loads(catalogue.read_text())["fragments"]
    frag_id, text = next(iter(fragments.items()))
    original = catalogue.read_text()
    catalogue.write_text(original.replace(f'{frag_id} = "{text}"', f'{frag_id} = "{text}{forbidden}"', 1))
    assert catalogue.read_text() != original
    result = _serve(_write_config(tmp_path, scripts=scripts))
    assert result.returncode == 2, result.stderr
    assert "fail the linter" in result.stderr
    assert re.search(rf"ERROR \[C8\] fragment {frag_id}: forbidden phrase", result.stderr), result.stderr
    assert "serving" not in result.stdout
    assert not (tmp_path / "store.sqlite3").exists()


def test_serve_refuses_a_manifest_missing_a_fragment(tmp_path: Path) -> None:
    """A manifest without one fragment's recording: exit 2 naming the fragment, before anything starts."""
    text = DEFAULT_MANIFEST.read_text()
    blocks = re.split(r"(?m)^(?=\[fragments\.)", text)
    dropped = re.match(r"\[fragments\.([^\]]+)\]", blocks[1])
    assert dropped is not None
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(blocks[0] + "".join(blocks[2:]).replace('file = "', f'file = "{DEFAULT_MANIFEST.parent}/'))
    result = _serve(_write_config(tmp_path, manifest=manifest))
    assert result.returncode == 2, result.stderr
    assert f"fragment '{dropped.group(1)}'" in result.stderr and "has no recording" in result.stderr
    assert "serving" not in result.stdout

"""Real peers for the end-to-end tests: loopback call batches against the simulated-borrower phone.

The phone is `sim.process.SimPhoneProcess`; each batch of bot calls runs in its own process
(`python -m session.loopback`: pjsua2 allows one endpoint per process), on free ports chosen at run
time, and every process started here is stopped here.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def daytime_zone(now: dt.datetime | None = None) -> str:
    """An IANA zone where it is now about 14:00, so test calls are inside the C1 window."""
    hour = (now or dt.datetime.now(dt.UTC)).hour
    offset = 14 - hour
    if offset > 14:
        offset -= 24
    if offset < -12:
        offset += 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def usable_manifest(tmp: Path) -> Path | None:
    """None when the committed prompt recordings cover every fragment; else a completed copy."""
    from config.prompts_config import PromptSettings
    from dialogue.scripts import load_script_library
    from prompts.assets import AssetError, AssetLibrary

    library = load_script_library()
    manifest = PromptSettings().manifest
    try:
        AssetLibrary.load(manifest, library.fragments)
        return None
    except AssetError:
        copy = tmp / "audio_assets"
        shutil.copytree(manifest.parent, copy)
        subprocess.run(
            [sys.executable, str(ROOT / "audio_assets" / "generate.py"), "--manifest", str(copy / manifest.name)],
            check=True, cwd=ROOT, capture_output=True, timeout=300,
        )
        return copy / manifest.name


def run_loopback(
    port: int, names: list[str], out: Path, *, timezone: str, manifest: Path | None, timeout_s: float = 170,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """One batch of simultaneous calls through `python -m session.loopback`; returns its summary."""
    cmd = [sys.executable, "-m", "session.loopback", "--peer-port", str(port), "--out", str(out),
           "--timezone", timezone]
    for name in names:
        cmd += ["--call", name]
    if manifest is not None:
        cmd += ["--manifest", str(manifest)]
    cmd += extra or []
    with (out / "loopback.err").open("w") as err:
        done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout_s)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"loopback printed no summary (exit {done.returncode}); see {out / 'loopback.err'}")
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary

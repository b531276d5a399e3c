"""`server.py render-prompt` writes the audio a call would play and refuses what a call would refuse."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

import server
from config.server_config import load_server_config
from dialogue.borrower import Borrower
from dialogue.render import prompt_for
from dialogue.scripts import load_script_library
from pcm.wav import read_wav
from prompts.renderer import build_renderer

ROOT = Path(server.__file__).resolve().parent
BORROWER = ROOT / "config" / "borrower.example.json"
TODAY = "2026-11-28"

pytestmark = pytest.mark.integration  # runs espeak-ng for the variables


def test_wav_matches_the_renderer_a_call_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The file holds sample for sample what build_renderer renders for that node and borrower."""
    out = tmp_path / "out.wav"
    argv = ["render-prompt", "--script", "first_overdue_courteous", "--node", "opening_standard/hello",
            "--borrower", str(BORROWER), "--rate", "8000", "--today", TODAY, "-o", str(out)]
    assert server.main(argv) == 0
    assert "NOT interruptible" in capsys.readouterr().out
    library = load_script_library()
    borrower = Borrower.from_dict(json.loads(BORROWER.read_text(encoding="utf-8")))
    prompt = prompt_for(library, "first_overdue_courteous", "opening_standard/hello", borrower, dt.date(2026, 11, 28))
    expected = build_renderer(load_server_config().prompts, library.fragments).render(prompt, 8000)
    audio = read_wav(out)
    assert audio.rate == 8000 and np.array_equal(audio.channel("mono"), expected.samples)


def test_debt_details_before_identity_are_refused(tmp_path: Path) -> None:
    """Rendering a debt notice as if identity were unconfirmed exits 3 and writes nothing (C6)."""
    out = tmp_path / "out.wav"
    argv = ["render-prompt", "--script", "first_overdue_courteous", "--node", "notice_first_overdue/tell",
            "--borrower", str(BORROWER), "--before-identity", "-o", str(out)]
    assert server.main(argv) == 3
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--script", "nope", "--node", "opening_standard/hello"], "unknown script set"),
        (["--script", "first_overdue_courteous", "--node", "opening_standard/nope"], "no node"),
        (["--script", "first_overdue_courteous", "--node", "opening_standard/hello", "--slot", "x=1"], "--slot"),
    ],
)
def test_bad_arguments_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Unknown sets, nodes and slots exit 2 with a message and no output file."""
    out = tmp_path / "out.wav"
    assert server.main(["render-prompt", *extra, "--borrower", str(BORROWER), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()

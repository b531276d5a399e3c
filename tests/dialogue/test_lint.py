"""The script linter: the shipped library is clean, and each kind of broken script is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dialogue_fakes import SCRIPTS_DIR, library_variant

from dialogue.lint import lint_library, main
from dialogue.scripts import load_script_library

REPO = Path(__file__).resolve().parents[2]


def _rules(root: Path, manifest: Path | None = None) -> set[str]:
    return {e.rule for e in lint_library(load_script_library(root), manifest)}


def test_shipped_library_is_clean_and_last_line_has_the_counts() -> None:
    """`python -m dialogue.lint config/scripts` exits 0 and ends with the exact summary line (scripts only:
    recordings are the prompt-audio package's output and are checked against a fixture manifest below).
    20 sets = the 18 collection sets + the mediation notice + the inbound set; 44 scenes = 41 + notice_mediation
    + opening_inbound + notice_inbound."""
    proc = subprocess.run([sys.executable, "-m", "dialogue.lint", str(SCRIPTS_DIR), "--manifest", "/nonexistent"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "script_sets=20 scenes=44 segments=10 errors=0"


@pytest.mark.parametrize(("case", "edits", "rule"), [
    ("forbidden phrase", {"fragments.toml": [('rf_firm = "', 'rf_firm = "再不还就上门催收。')]}, "C8"),
    ("impersonating a court", {"fragments.toml": [('cl_thanks = "', 'cl_thanks = "这是法院通知，')]}, "C8"),
    ("amount before identity", {"scenes/identity.toml": [
        ('prompt = ["id_know_prefix", "{name}", "id_know_suffix"]',
         'prompt = ["id_know_prefix", "{name}", "{amount}", "id_know_suffix"]')]}, "C6"),
    ("debt word in third-party prompt", {"fragments.toml": [
        ('tp_thanks_bye = "，', 'tp_thanks_bye = "，他的欠款已逾期，')]}, "C6"),
    ("debt word in engine close", {"fragments.toml": [
        ('engine_close_later = "', 'engine_close_later = "请尽快还款。')]}, "C6"),
    ("no recording notice", {"scenes/opening.toml": [
        ('"open_period", "open_purpose", "open_recording_notice"]', '"open_period", "open_purpose"]')]}, "C5"),
    ("no purpose in opening", {"scenes/opening.toml": [
        ('"open_period", "open_purpose", "open_recording_notice"]', '"open_period", "open_recording_notice"]')]}, "C4"),
    ("courteous opening without purpose", {"scenes/opening.toml": [
        ('"open_service_center", "open_purpose_courteous", ', '"open_service_center", ')]}, "C4"),
    ("no creditor in opening", {"scenes/opening.toml": [
        ('prompt = ["open_hello", "{creditor}", ', 'prompt = ["open_hello", ')]}, "C4"),
    ("robot answer hides the AI", {"fragments.toml": [('wc_ai = "的智能语音助手。"', 'wc_ai = "的客服。"')]}, "C12"),
    ("complaint without an agent", {"scenes/service.toml": [
        ('on = { affirm = "@agent", request_agent = "@agent", busy = "callback", deny = "callback" }\n'
         'dtmf = { "1" = "@agent", "2" = "callback" }', 'on = { busy = "callback", deny = "callback" }')]}, "C9"),
    ("opt-out that does not opt out", {"scenes/service.toml": [
        ('flags = ["opt_out"]\nend = "opt_out"', 'end = "refused"')]}, "C7"),
    ("unreachable node", {"scenes/contacts.toml": [
        ('[scenes.wrong_number.nodes.sorry]', '[scenes.wrong_number.nodes.orphan]\nprompt = ["wn_sorry"]\n'
         'end = "wrong_number"\n[scenes.wrong_number.nodes.sorry]')]}, "graph"),
    ("then-loop without a turn", {"scenes/service.toml": [
        ('[scenes.repeat_request.nodes.again]\nprompt = ["rp_again"]\nthen = "@again"',
         '[scenes.repeat_request.nodes.again]\nprompt = ["rp_again"]\nthen = "again2"\n'
         '[scenes.repeat_request.nodes.again2]\nprompt = ["rp_again"]\nthen = "again"')]}, "graph"),
])
def test_broken_scripts_are_reported(tmp_path: Path, case: str, edits: dict[str, list[tuple[str, str]]],
                                     rule: str) -> None:
    """Each seeded mistake is reported under its compliance rule (or as a graph error)."""
    assert rule in _rules(library_variant(tmp_path, edits)), case


def test_unused_scene_is_reported(tmp_path: Path) -> None:
    """A scene no script set can reach is reported as a graph error naming the scene."""
    root = library_variant(tmp_path, {"scenes/contacts.toml": [
        ("[scenes.wrong_number]", '[scenes.lonely]\ntitle = "x"\nentry = "a"\n[scenes.lonely.nodes.a]\n'
         'prompt = ["wn_sorry"]\nend = "wrong_number"\n\n[scenes.wrong_number]')]})
    errors = lint_library(load_script_library(root))
    assert any(e.rule == "graph" and "lonely" in e.where for e in errors)


def test_missing_and_stale_recordings_are_reported(tmp_path: Path) -> None:
    """With a manifest present, a fragment without a recording or with different recorded text is an error."""
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "cl_thanks.wav").write_bytes(b"RIFF")
    manifest = tmp_path / "manifest.toml"
    entry = '[fragments.cl_thanks]\nfile = "fragments/cl_thanks.wav"\ntext = "旧的文本"\n'
    manifest.write_text(entry, encoding="utf-8")
    errors = lint_library(load_script_library(SCRIPTS_DIR), manifest)
    messages = [str(e) for e in errors if e.rule == "recording"]
    assert any("cl_thanks" in m and "differs" in m for m in messages)
    assert any("wn_sorry" in m and "no recording" in m for m in messages)


def test_load_error_still_prints_the_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A library that does not load is one error, and the summary line is still printed last."""
    root = library_variant(tmp_path, {"fragments.toml": [("[fragments]", "[fragments]\nBad-Id = 'x'")]})
    assert main([str(root)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "script_sets=0 scenes=0 segments=0 errors=1" and "Bad-Id" in lines[0]


def test_unknown_strategy_in_segments_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Segments naming a strategy that strategies.toml does not define are a lint error."""
    strategies = tmp_path / "strategies.toml"
    strategies.write_text("[strategies.standard]\n", encoding="utf-8")
    assert main([str(SCRIPTS_DIR), "--strategies", str(strategies), "--manifest", "/nonexistent"]) == 1
    out = capsys.readouterr().out
    assert "gentle_reminder" in out and out.strip().splitlines()[-1].endswith("errors=1")


def test_require_clean_refuses_a_broken_library(tmp_path: Path) -> None:
    """require_clean (server start-up) raises ConfigError for a library the linter rejects, not the shipped one."""
    from config.errors import ConfigError
    from dialogue.lint import require_clean

    require_clean(load_script_library(SCRIPTS_DIR))
    root = library_variant(tmp_path, {"fragments.toml": [('rf_firm = "', 'rf_firm = "你这个老赖，')]})
    with pytest.raises(ConfigError, match="C8"):
        require_clean(load_script_library(root))

"""Segments: ten of them, every borrower lands in exactly the first matching one, bad configs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from dialogue_fakes import SEGMENTS_TOML, make_borrower
from hypothesis import given
from hypothesis import strategies as st

from config.errors import ConfigError
from dialogue.scripts import ScriptLibrary
from dialogue.segments import Segment, load_segments, segment_for

STRATEGIES = Path(__file__).resolve().parents[2] / "config" / "strategies.toml"


def test_ten_segments_over_four_stages(segments: tuple[Segment, ...], library: ScriptLibrary) -> None:
    """The shipped file defines 10 segments over M0-M3, each naming an existing script set."""
    assert len(segments) == 10
    assert {s.stage for s in segments} == {"M0", "M1", "M2", "M3"}
    assert all(s.script_set in library.script_sets for s in segments)


def test_strategies_exist_in_campaign_config() -> None:
    """Every segment's strategy is defined in config/strategies.toml (the campaign engineer's file)."""
    import tomllib

    if not STRATEGIES.exists():
        pytest.skip("config/strategies.toml not present in this build")
    names = frozenset(tomllib.loads(STRATEGIES.read_text(encoding="utf-8"))["strategies"])
    load_segments(SEGMENTS_TOML, strategies=names)


@given(days=st.integers(0, 400), tier=st.sampled_from(["high", "normal"]), score=st.integers(0, 1000))
def test_every_borrower_gets_a_segment_of_their_stage(days: int, tier: str, score: int) -> None:
    """segment_for is total over the record space and picks a segment of the borrower's stage."""
    segments = load_segments(SEGMENTS_TOML)
    borrower = make_borrower(overdue_days=days, value_tier=tier, risk_score=score)
    segment = segment_for(borrower, segments)
    assert segment.stage == borrower.stage
    assert segment is next(s for s in segments if s.matches(borrower.stage, tier, score))


def test_examples(segments: tuple[Segment, ...]) -> None:
    """High value M1 -> courteous set; low score M1 -> firm set with the intensive strategy; M3 -> late stage."""
    assert segment_for(make_borrower(value_tier="high"), segments).name == "M1_high_value"
    firm = segment_for(make_borrower(risk_score=420), segments)
    assert (firm.name, firm.strategy, firm.script_set) == ("M1_high_risk", "intensive", "first_overdue_firm")
    assert segment_for(make_borrower(overdue_days=200), segments).script_set == "late_stage_firm"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segments.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_gap_in_coverage_is_refused(tmp_path: Path) -> None:
    """A config where some borrowers match no segment fails at load, naming the uncovered case."""
    path = _write(tmp_path, "".join(
        f'[[segments]]\nname = "{st}"\nstage = "{st}"\nstrategy = "standard"\nscript_set = "x"\n'
        + ('risk_min = 600\n' if st == "M2" else "") for st in ("M0", "M1", "M2", "M3")))
    with pytest.raises(ConfigError, match="stage M2") as err:
        load_segments(path)
    assert err.value.file == path


def test_unknown_script_set_or_strategy_is_refused(tmp_path: Path) -> None:
    """Names are checked against the known script sets and strategies, with the key in the message."""
    path = _write(tmp_path, "".join(
        f'[[segments]]\nname = "{st}"\nstage = "{st}"\nstrategy = "standard"\nscript_set = "nope"\n'
        for st in ("M0", "M1", "M2", "M3")))
    with pytest.raises(ConfigError, match=r"segments\[0\]\.script_set"):
        load_segments(path, script_sets=frozenset({"first_overdue_notice"}))
    with pytest.raises(ConfigError, match=r"segments\[0\]\.strategy"):
        load_segments(path, strategies=frozenset({"gentle_reminder"}))

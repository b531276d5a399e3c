"""Borrower segments: which dialing strategy and script set a borrower gets, as a pure function of data.

Segments are an ordered rule list in `config/segments.toml`; the loader proves that every possible
borrower (each stage x value tier x risk score) lands in some segment, so `segment_for` never fails
at call time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.toml_reader import Table, load_toml
from dialogue.borrower import VALUE_TIERS, Borrower

DEFAULT_SEGMENTS_TOML = Path(__file__).resolve().parent.parent / "config" / "segments.toml"
STAGES = ("M0", "M1", "M2", "M3")
_RISK_RANGE = (0, 1000)


@dataclass(frozen=True)
class Segment:
    name: str
    stage: str
    strategy: str
    script_set: str
    value_tier: str | None = None
    risk_min: int | None = None
    risk_max: int | None = None

    def matches(self, stage: str, value_tier: str, risk_score: int) -> bool:
        return (
            stage == self.stage
            and (self.value_tier is None or value_tier == self.value_tier)
            and (self.risk_min is None or risk_score >= self.risk_min)
            and (self.risk_max is None or risk_score <= self.risk_max)
        )


def segment_for(borrower: Borrower, segments: tuple[Segment, ...]) -> Segment:
    """The first matching segment; `LookupError` only if the list was not built by `load_segments`."""
    for segment in segments:
        if segment.matches(borrower.stage, borrower.value_tier, borrower.risk_score):
            return segment
    raise LookupError(f"no segment for stage {borrower.stage}, tier {borrower.value_tier}, risk {borrower.risk_score}")


def load_segments(
    path: Path | str = DEFAULT_SEGMENTS_TOML,
    *,
    script_sets: frozenset[str] | None = None,
    strategies: frozenset[str] | None = None,
) -> tuple[Segment, ...]:
    """Parse and check segments; pass the known script set / strategy names to check references too."""
    root = load_toml(path)
    root.reject_unknown(["segments"])
    segments: list[Segment] = []
    for t in root.tables("segments"):
        segments.append(_segment(t, script_sets, strategies))
        if sum(1 for s in segments if s.name == segments[-1].name) > 1:
            raise t.error("name", "a segment name used once", segments[-1].name)
    if not segments:
        raise root.error("segments", "at least one [[segments]] table")
    _check_coverage(root, tuple(segments))
    return tuple(segments)


def _segment(t: Table, script_sets: frozenset[str] | None, strategies: frozenset[str] | None) -> Segment:
    t.reject_unknown(["name", "stage", "value_tier", "risk_min", "risk_max", "strategy", "script_set"])
    segment = Segment(
        name=t.string("name"),
        stage=t.string("stage", choices=STAGES),
        value_tier=t.string("value_tier", None, choices=VALUE_TIERS),
        risk_min=t.integer("risk_min", None, min=_RISK_RANGE[0], max=_RISK_RANGE[1]),
        risk_max=t.integer("risk_max", None, min=_RISK_RANGE[0], max=_RISK_RANGE[1]),
        strategy=t.string("strategy"),
        script_set=t.string("script_set"),
    )
    if segment.risk_min is not None and segment.risk_max is not None and segment.risk_min > segment.risk_max:
        raise t.error("risk_max", f"a value >= risk_min ({segment.risk_min})", segment.risk_max)
    if script_sets is not None and segment.script_set not in script_sets:
        known = ", ".join(sorted(script_sets))
        raise t.error("script_set", f"a script set id (known: {known})", segment.script_set)
    if strategies is not None and segment.strategy not in strategies:
        raise t.error("strategy", "a strategy name (known: " + ", ".join(sorted(strategies)) + ")", segment.strategy)
    return segment


def _check_coverage(root: Table, segments: tuple[Segment, ...]) -> None:
    # Scores only change which segment matches at a bound, so testing every bound and its neighbours is exhaustive.
    edges = {_RISK_RANGE[0], _RISK_RANGE[1]}
    for s in segments:
        for bound in (s.risk_min, s.risk_max):
            if bound is not None:
                edges.update({bound - 1, bound, bound + 1})
    scores = sorted(e for e in edges if _RISK_RANGE[0] <= e <= _RISK_RANGE[1])
    for stage in STAGES:
        for tier in VALUE_TIERS:
            for score in scores:
                if not any(s.matches(stage, tier, score) for s in segments):
                    raise root.error(
                        "segments",
                        "a segment for every borrower; none matches "
                        f"stage {stage}, value_tier {tier}, risk_score {score}",
                    )

"""Dialogue fixtures: the shipped script library and its segments, loaded once per test session."""

from __future__ import annotations

import pytest
from dialogue_fakes import SCRIPTS_DIR, SEGMENTS_TOML

from dialogue.scripts import ScriptLibrary, load_script_library
from dialogue.segments import Segment, load_segments


@pytest.fixture(scope="session")
def library() -> ScriptLibrary:
    return load_script_library(SCRIPTS_DIR)


@pytest.fixture(scope="session")
def segments(library: ScriptLibrary) -> tuple[Segment, ...]:
    return load_segments(SEGMENTS_TOML, script_sets=frozenset(library.script_sets))

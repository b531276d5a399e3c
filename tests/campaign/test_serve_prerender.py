"""`serve` warms every script set's fixed prompts and the coming dates on its pool at start-up."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from cli.serve import _prerender_prompts
from config.server_config import DEFAULT_SERVER_TOML, load_server_config
from dialogue.scripts import load_script_library
from prompts.renderer import build_renderer
from telemetry.logging import configure_logging

pytestmark = pytest.mark.integration  # espeak-ng renders the dates


class InlinePool:
    """Runs the job at once, as a thread pool would, and reports its outcome the same way."""

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None], fn: Callable[..., Any], *a: Any,
                                 **kw: Any) -> None:
        try:
            result = fn(*a, **kw)
        except BaseException as exc:  # reported to the Deferred like the real pool does
            on_result(False, exc)
        else:
            on_result(True, result)


class ImmediateReactor:
    def callFromThread(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> None:
        fn(*a, **kw)


def test_prerender_warms_all_sets_once() -> None:
    """The first start renders fixed fragments and dates for all sets; a second pass has nothing left to do."""
    config = load_server_config(DEFAULT_SERVER_TOML)
    library = load_script_library(config.dialogue.scripts_dir)
    renderer = build_renderer(config.prompts, library.fragments)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    for _ in range(2):
        _prerender_prompts(ImmediateReactor(), InlinePool(), renderer, library, config.media.clock_rate)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    done = [e for e in events if e["event"] == "prompts.prerendered"]
    assert len(done) == 2, events
    assert done[0]["script_sets"] == len(library.script_sets) and done[0]["pieces"] > len(library.script_sets)
    assert done[1]["pieces"] == 0

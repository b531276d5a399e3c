"""The sipp borrowers of serve_load: one sipp process, several calls, INFO words then the line's audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reactor_wait import run_until
from twisted.internet import defer

from sim.personas import VoiceSettings
from sim.sipp_borrower import SippBorrowers, SpokenLine, borrower_scenario
from sim.voice import EspeakVoice
from telephony.events import CallEnded, InfoReceived

LINES = ("喂，是我。", "好的，再见。")


def test_scenario_refuses_a_schedule_that_does_not_fit_the_lines() -> None:
    """A wait per line, none negative, and a line that fits one INFO body: anything else is refused."""
    line = SpokenLine("是我。", "line0.pcap", 1.0)
    with pytest.raises(ValueError, match="need 1 waits"):
        borrower_scenario([line], [], 1.0)
    with pytest.raises(ValueError, match="negative"):
        borrower_scenario([line], [-1.0], 1.0)
    with pytest.raises(ValueError, match="one INFO body"):
        borrower_scenario([SpokenLine("a\nb", "x.pcap", 1.0)], [0.5], 1.0)
    text = borrower_scenario([line], [0.5], 2.0)
    assert 'play_pcap_audio="line0.pcap"' in text and "application/x-sim-transcript" in text
    assert '<pause milliseconds="500"/>' in text and '<pause milliseconds="2000"/>' in text


def _voiced(frames: list[tuple[bytes, float]], start: float, end: float) -> float:
    """Fraction of the borrower frames in [start, end) with speech energy."""
    chosen = [f for f, t in frames if start <= t < end]
    if not chosen:
        return 0.0
    loud = [np.sqrt(np.mean(np.frombuffer(f, "<i2").astype(np.float64) ** 2)) > 300 for f in chosen]
    return sum(loud) / len(chosen)


@pytest.mark.integration
def test_two_calls_on_one_sipp_hear_the_words_then_the_speech(endpoint: Any, tmp_path: Path) -> None:
    """Both calls get each line's INFO in order, the line's audio right after it, silence before; sipp hangs up
    one call itself and answers the bot's BYE on the other."""
    voice = EspeakVoice(VoiceSettings("cmn", 190), cache_dir=tmp_path)
    with SippBorrowers(voice, LINES, [1.0, 0.6], tail_s=1.0, work_dir=tmp_path / "sipp") as peer:
        durations = [line.duration_s for line in peer.lines]
        schedule_s = 1.0 + durations[0] + 0.6 + durations[1] + 1.0
        calls = run_until(defer.gatherResults([
            endpoint.dial(peer.uri_for("13900010001"), max_seconds=30.0),
            endpoint.dial(peer.uri_for("13900010002"), max_seconds=1.0 + durations[0] + 0.3),
        ]))
        seen: list[tuple[list[InfoReceived], list[tuple[bytes, float]]]] = []
        for call in calls:
            infos: list[InfoReceived] = []
            frames: list[tuple[bytes, float]] = []
            call.add_event_listener(lambda e, infos=infos: infos.append(e) if isinstance(e, InfoReceived) else None)
            call.set_frame_consumer(lambda f, t, frames=frames: frames.append((f, t)))
            seen.append((infos, frames))
        ended: list[CallEnded] = run_until(defer.gatherResults([c.ended for c in calls]), schedule_s + 10)
        errors = (tmp_path / "sipp" / "errors.log")
        sipp_errors = errors.read_text(errors="replace") if errors.exists() else ""
    assert ended[0].hangup_by == "remote" and ended[0].reason == "remote_bye"
    assert ended[1].hangup_by == "bot" and ended[1].reason == "max_duration"
    assert "unexpected" not in sipp_errors.lower(), sipp_errors
    infos, frames = seen[0]
    assert [(i.content_type, i.body.strip()) for i in infos] == [("application/x-sim-transcript", t) for t in LINES]
    assert _voiced(frames, 0.0, infos[0].t) < 0.05  # silent until the first line's words are announced
    for info, duration in zip(infos, durations, strict=True):
        assert _voiced(frames, info.t, info.t + duration) > 0.3  # the announced line is then heard (pauses at commas)
    assert [i.body.strip() for i in seen[1][0]] == [LINES[0]]
    assert _voiced(seen[1][1], seen[1][0][0].t, seen[1][0][0].t + durations[0]) > 0.3

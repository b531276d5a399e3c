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

HELP = "transcribe a WAV file through VAD + streaming ASR, frame by frame as if live"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.wav", help="PCM WAV, any rate, mono or stereo")
    parser.add_argument("--model", type=str, default=None,
                        help="Vosk model folder (or package:NAME); default: [asr] model_path in the config")
    parser.add_argument("--channel", choices=("left", "right", "mono"), default="mono",
                        help="which channel of a stereo file is the borrower (default: mix to mono)")
    parser.add_argument("--realtime", action="store_true", help="push frames at the real 20 ms pace")
    parser.add_argument("--json", action="store_true", help="one JSON object per utterance on stdout")
    parser.add_argument("--config", type=Path, default=None, help="server.toml to read [asr] from")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from asr.vosk_recognizer import ModelError, shared_vosk_model
    from config.asr_config import resolve_model_path
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
    try:
        model = shared_vosk_model(resolve_model_path(args.model) if args.model else config.asr.resolved_model_path())
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"# {args.file}: {audio.duration_s:.2f} s at {audio.rate} Hz, {args.channel}; "
              f"run at {rate} Hz; model {model.path} ({model.sample_rate} Hz)", file=sys.stderr)

    from twisted.internet import defer
    from twisted.internet import reactor as installed_reactor
    from twisted.python.failure import Failure

    reactor: Any = installed_reactor
    outcome: list[object] = []

    def finished(result: object) -> None:
        outcome.append(result)
        reactor.stop()

    def start() -> None:
        done = defer.ensureDeferred(_transcribe(reactor, model, config.asr, np.asarray(samples), rate, args))
        done.addBoth(finished)

    reactor.callWhenRunning(start)
    reactor.run()
    if outcome and isinstance(outcome[0], Failure):
        print(f"error: transcription failed: {outcome[0].getErrorMessage()}", file=sys.stderr)
        return 1
    return 0


async def _transcribe(reactor: Any, model: Any, asr_config: Any, samples: Any, rate: int,
                      args: argparse.Namespace) -> None:
    from twisted.internet.defer import Deferred
    from twisted.python.threadpool import ThreadPool

    from asr.events import FinalTranscript, SpeechEvent
    from asr.speech_input import SpeechInput
    from asr.vosk_recognizer import VoskRecognizer
    from pcm.frames import iter_frames

    pool = ThreadPool(minthreads=1, maxthreads=asr_config.worker_threads, name="asr")
    pool.start()

    def show(event: SpeechEvent) -> None:
        if not isinstance(event, FinalTranscript):
            return
        if args.json:
            print(json.dumps({
                "start_s": round(event.start_s, 3), "end_s": round(event.end_s, 3), "text": event.text,
                "partials": event.partials, "latency_ms": round(event.latency_s * 1000, 1),
            }, ensure_ascii=False), flush=True)
        else:
            print(f"[{event.start_s:7.2f} - {event.end_s:7.2f}] {event.text}  "
                  f"({event.partials} partials, {event.latency_s * 1000:.0f} ms)", flush=True)

    recognizer = VoskRecognizer(model, reactor, pool, partial_interval_ms=asr_config.partial_interval_ms, keep_idle=0)
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
    finally:
        pool.stop()

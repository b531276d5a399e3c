"""`server.py call SIP_URI`: place one call, play a WAV, record both sides, print the call record.

An operator's tool for checking a trunk or a phone end to end before a campaign uses it: the same
endpoint, media bridge and recording as production calls, with one JSON line to feed scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HELP = "place one SIP call, play a WAV, record it, and print the call record"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="SIP_URI",
                        help="sip:user@host[:port], or a phone number when --trunk is given")
    parser.add_argument("--trunk", default=None, help="trunk name from server.toml (default: direct to the URI)")
    parser.add_argument("--play", type=Path, default=None, metavar="WAV",
                        help="PCM WAV to play once answered (any rate; converted)")
    parser.add_argument("--record-dir", type=Path, default=None, metavar="DIR",
                        help="where the stereo recording goes (default: [calls] recording_dir)")
    parser.add_argument("--max-seconds", type=float, default=None, metavar="N",
                        help="hang up after N s of talk (default: WAV length + 1 s, else [calls] max_call_seconds)")
    parser.add_argument("--json", action="store_true", help="print the call record as one JSON object on the last line")
    parser.add_argument("--config", type=Path, default=None, help="server.toml (default: config/server.toml)")


def run(args: argparse.Namespace) -> int:
    from config.server_config import DEFAULT_SERVER_TOML, load_server_config
    from pcm.wav import WavError, read_wav
    from telemetry.logging import configure_logging

    config = load_server_config(args.config or DEFAULT_SERVER_TOML)  # ConfigError -> exit 2 in server.py
    configure_logging("WARNING" if config.logging.level == "INFO" else config.logging.level, config.logging.format)
    if args.trunk is None and not args.target.startswith(("sip:", "sips:")):
        return _usage(f"SIP_URI must start with sip: (or give --trunk to dial a number): {args.target!r}")
    if args.trunk is not None:
        config.trunk(args.trunk)  # unknown trunk -> ConfigError listing the known ones
    if args.max_seconds is not None and not 0 < args.max_seconds <= 86400:
        return _usage(f"--max-seconds must be between 0 and 86400, not {args.max_seconds}")
    pcm = b""
    play_s = 0.0
    if args.play is not None:
        try:
            audio = read_wav(args.play)
        except WavError as exc:
            return _usage(f"--play: {exc}")
        pcm, play_s = _convert(audio.channel("mono"), audio.rate, config.media.clock_rate), audio.duration_s
    record_dir: Path = args.record_dir or config.calls.recording_dir
    try:
        record_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _usage(f"--record-dir {record_dir}: {exc.strerror or exc}")
    if args.max_seconds is not None:
        limit = args.max_seconds if not pcm else min(args.max_seconds, play_s + 1.0)
    else:
        limit = play_s + 1.0 if pcm else config.calls.max_call_seconds
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record_path = record_dir / f"call-{stamp}-{uuid.uuid4().hex[:8]}.wav"

    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    outcome: dict[str, Any] = {}
    exit_code = [0]
    _place_call(reactor, config, args.target, args.trunk, pcm, record_path, limit, outcome, exit_code)
    reactor.run()
    if not outcome:
        return exit_code[0] or 1
    _print_record(outcome, args.json)
    if outcome.get("end_reason") in ("endpoint_stopped", "endpoint stopped"):
        return 130  # interrupted (SIGINT/SIGTERM) before the call ended by itself
    return exit_code[0]


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _convert(samples: Any, rate: int, to_rate: int) -> bytes:
    import numpy as np

    from pcm.resample import resample

    return bytes(np.asarray(resample(samples, rate, to_rate), "<i2").tobytes())


def _place_call(
    reactor: Any, config: Any, target: str, trunk: str | None, pcm: bytes, record_path: Path, limit: float,
    outcome: dict[str, Any], exit_code: list[int],
) -> None:
    from twisted.python.failure import Failure

    from telephony.call import Call
    from telephony.dispositions import ANSWERED, DialFailure
    from telephony.endpoint import SipEndpoint
    from telephony.events import HANGUP_BY_BOT, HANGUP_BY_REMOTE, CallEnded

    endpoint = SipEndpoint(config, reactor)

    def finish(_: object = None) -> None:
        def stop_reactor(_: object) -> None:
            from twisted.internet.error import ReactorNotRunning

            with contextlib.suppress(ReactorNotRunning):  # a signal may already be stopping it
                reactor.stop()

        endpoint.stop().addBoth(stop_reactor)

    def answered(call: Call) -> Any:
        if pcm:
            call.playback.enqueue(pcm)
        return call.ended.addCallback(ended)

    def ended(event: CallEnded) -> None:
        t = event.timings
        outcome.update(
            disposition=ANSWERED, sip_code=200, sip_reason="OK", call_id=event.call_id,
            invite_sent_at=t.invite_sent_at, ringing_at=t.ringing_at, answered_at=t.answered_at,
            ended_at=t.ended_at, duration_s=round(event.duration_s, 3), recording=event.recording,
            hangup_by=event.hangup_by, end_reason=event.reason, dtmf=event.dtmf,
        )

    def failed(failure: Failure) -> None:
        if failure.check(DialFailure):
            f: DialFailure = failure.value  # type: ignore[assignment]
            t = f.timings
            by_bot = f.reason in ("ring timeout", "canceled by caller", "endpoint stopped")
            outcome.update(
                disposition=f.disposition, sip_code=f.sip_code, sip_reason=f.reason, call_id=f.call_id,
                invite_sent_at=t.invite_sent_at if t else None, ringing_at=t.ringing_at if t else None,
                answered_at=None, ended_at=t.ended_at if t else None, duration_s=0.0, recording=None,
                hangup_by=HANGUP_BY_BOT if by_bot else HANGUP_BY_REMOTE, end_reason=f.reason, dtmf="",
                early_media_s=round(len(f.early_media) / 2 / config.media.clock_rate, 2),
            )
        else:
            print(f"error: {failure.getErrorMessage()}", file=sys.stderr)
            exit_code[0] = 2 if failure.check(ValueError) else 1

    def started(_: object) -> Any:
        return endpoint.dial(target, trunk, record_path=record_path, max_seconds=limit).addCallback(answered)

    def start_failed(failure: Failure) -> None:
        print(f"error: SIP endpoint could not start: {failure.getErrorMessage()}", file=sys.stderr)
        exit_code[0] = 1

    def go() -> None:
        d = endpoint.start()
        d.addCallbacks(lambda r: started(r).addErrback(failed), start_failed)
        d.addBoth(finish)

    reactor.callWhenRunning(go)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: endpoint.stop())


def _print_record(outcome: dict[str, Any], as_json: bool) -> None:
    def when(t: float | None) -> str:
        return "-" if t is None else time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"

    lines = [
        f"disposition  {outcome['disposition']}  ({outcome['sip_code'] or '-'} {outcome['sip_reason']})",
        f"invite sent  {when(outcome['invite_sent_at'])}",
        f"ringing      {when(outcome['ringing_at'])}",
        f"answered     {when(outcome['answered_at'])}",
        f"ended        {when(outcome['ended_at'])}  by {outcome['hangup_by']} ({outcome['end_reason']})",
        f"duration     {outcome['duration_s']:.2f} s",
        f"dtmf         {outcome['dtmf'] or '-'}",
        f"recording    {outcome['recording'] or '-'}",
    ]
    print("\n".join(lines))
    if as_json:
        print(json.dumps(outcome, ensure_ascii=False))

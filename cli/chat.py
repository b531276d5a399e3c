"""`server.py chat`: talk to the dialogue manager in text, one borrower utterance per stdin line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

HELP = "text conversation with the dialogue manager (stdin: one utterance per line, <silence>, <dtmf:N>)"
SILENCE = "<silence>"
DTMF_PREFIX = "<dtmf:"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--borrower", type=Path, required=True,
                        help="borrower record (JSON), see config/borrower.example.json")
    parser.add_argument("--today", type=_date, default=None, help="date the conversation happens (YYYY-MM-DD)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--script", default=None, help="script set id (default: chosen by the borrower's segment)")
    parser.add_argument("--scripts", type=Path, default=None, help="script library folder (default config/scripts)")
    parser.add_argument("--segments", type=Path, default=None, help="segments file (default config/segments.toml)")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    from config.dialogue_config import DialogueConfig
    from dialogue.borrower import BorrowerFileError, load_borrower_file
    from dialogue.intents import IntentClassifier
    from dialogue.manager import DialogueManager
    from dialogue.scripts import load_script_library
    from dialogue.segments import load_segments
    from telemetry.logging import configure_logging

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    configure_logging("WARNING", "text")
    defaults = DialogueConfig()
    try:
        borrower = load_borrower_file(args.borrower)
    except BorrowerFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    library = load_script_library(args.scripts or defaults.scripts_dir)
    segments = load_segments(args.segments or defaults.segments_file, script_sets=frozenset(library.script_sets))
    if args.script is not None and args.script not in library.script_sets:
        print(f"unknown script set {args.script!r}; known: {', '.join(sorted(library.script_sets))}", file=sys.stderr)
        return 2
    manager = DialogueManager(
        library, IntentClassifier.load(), args.today or dt.date.today(),
        script_set=args.script, segments=segments, config=defaults,
    )
    out = _Transcript(stdout, args.json)
    action = manager.start(borrower)
    out.action(action)
    for raw in stdin:
        if manager.ended:
            break
        line = raw.strip()
        if not line:
            continue
        if line == SILENCE:
            action = manager.on_no_input()
            out.borrower(line, None, None)
        elif line.startswith(DTMF_PREFIX) and line.endswith(">"):
            action = manager.on_dtmf(line[len(DTMF_PREFIX):-1])
            out.borrower(line, None, None)
        else:
            action = manager.on_utterance(line)
            out.borrower(line, action.intent, action.confidence)
        out.action(action)
    how = type(action).__name__.lower() if manager.ended else "hung_up"
    outcome = manager.outcome or manager.on_hangup()
    out.end(outcome.to_dict(), how)
    return 0


class _Transcript:
    """Prints the conversation either for people or as JSON lines for scripts and tests."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json

    def _emit(self, obj: dict[str, Any], human: str) -> None:
        self.stream.write((json.dumps(obj, ensure_ascii=False) if self.as_json else human) + "\n")
        self.stream.flush()

    def action(self, action: object) -> None:
        prompt = getattr(action, "prompt", None)
        if prompt is None:
            return
        self._emit(
            {"role": "bot", "text": prompt.text, "node": prompt.node, "interruptible": prompt.interruptible},
            f"bot [{prompt.node}]{'' if prompt.interruptible else ' (not interruptible)'}: {prompt.text}",
        )

    def borrower(self, text: str, intent: str | None, confidence: float | None) -> None:
        score = None if confidence is None else round(confidence, 3)
        label = f" ({intent} {score})" if intent is not None else ""
        self._emit({"role": "borrower", "text": text, "intent": intent, "confidence": score},
                   f"borrower: {text}{label}")

    def end(self, outcome: dict[str, Any], how: str) -> None:
        self._emit({"event": "end", "action": how, "outcome": outcome},
                   f"[end: {how}] " + json.dumps(outcome, ensure_ascii=False))

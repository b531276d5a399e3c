"""`server.py render-prompt`: write the exact audio a call would play at one node for one borrower.

It goes through the same pieces a call uses (script library -> `prompt_for` with the C6 guard ->
`build_renderer` from `[prompts]` in server.toml -> render at the call rate), so what a script
writer or QA reviewer hears here is what the borrower hears.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

HELP = "render one node's prompt for a borrower to a WAV file (exactly what a call plays)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--script", required=True, help="script set id, e.g. first_overdue_courteous")
    parser.add_argument("--node", required=True, help="scene/node, e.g. opening/greet")
    parser.add_argument("--borrower", type=Path, required=True,
                        help="borrower record (JSON), see config/borrower.example.json")
    parser.add_argument("--rate", type=int, choices=(8000, 16000), default=None,
                        help="call sample rate (default: [media] clock_rate in server.toml)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="WAV file to write (mono 16-bit)")
    parser.add_argument("--config", type=Path, default=None, help="server.toml (default config/server.toml)")
    parser.add_argument("--scripts", type=Path, default=None, help="script library folder (default config/scripts)")
    parser.add_argument("--today", type=_date, default=None, help="date of the call (YYYY-MM-DD), for {today}")
    parser.add_argument("--slot", action="append", default=[], metavar="NAME=VALUE",
                        help="a captured slot, e.g. ptp_date=2026-12-05 or ptp_amount=1500 (repeatable)")
    parser.add_argument("--before-identity", action="store_true",
                        help="render as if identity is not yet confirmed (debt details are refused, C6)")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from config.server_config import DEFAULT_SERVER_TOML, load_server_config
    from dialogue.borrower import BorrowerFileError, load_borrower_file
    from dialogue.render import ComplianceRefused, PromptValueMissing, prompt_for
    from dialogue.scripts import DEFAULT_SCRIPTS_DIR, VARIABLES, load_script_library
    from pcm.wav import write_wav
    from prompts.assets import AssetError
    from prompts.renderer import PromptRenderError, build_renderer
    from telemetry.logging import configure_logging

    configure_logging("WARNING", "text")
    config = load_server_config(args.config or DEFAULT_SERVER_TOML)
    rate = args.rate or config.media.clock_rate
    try:
        borrower = load_borrower_file(args.borrower)
    except BorrowerFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    library = load_script_library(args.scripts or DEFAULT_SCRIPTS_DIR)
    try:
        slots = _slots(args.slot, VARIABLES)
    except ValueError as exc:
        print(f"--slot: {exc}", file=sys.stderr)
        return 2
    today = args.today or dt.date.today()
    try:
        prompt = prompt_for(library,
            args.script, args.node, borrower, today, identity_confirmed=not args.before_identity, slots=slots
        )
    except KeyError as exc:
        print(f"{exc.args[0]}", file=sys.stderr)
        return 2
    except (ComplianceRefused, PromptValueMissing) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 3
    if not prompt.parts:
        print(f"node {args.node!r} says nothing (no prompt)", file=sys.stderr)
        return 3
    try:
        renderer = build_renderer(config.prompts, library.fragments)
        rendered = renderer.render(prompt, rate)
    except (AssetError, PromptRenderError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    write_wav(args.output, rendered.samples, rate)
    print(f"{args.output}: node {prompt.node}, {rate} Hz, {rendered.duration_ms:.0f} ms, "
          f"{'interruptible' if prompt.interruptible else 'NOT interruptible'}")
    for part in rendered.parts:
        start, end = rendered.part_ms(part)
        print(f"  {start:7.0f} - {end:7.0f} ms  {part.kind:<8} {part.name}")
    return 0


def _slots(items: list[str], kinds: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in ("ptp_date", "ptp_amount", "callback_at"):
            raise ValueError(f"expected ptp_date=..., ptp_amount=... or callback_at=..., got {item!r}")
        kind = kinds[name]
        try:
            out[name] = dt.date.fromisoformat(raw) if kind == "date" else float(raw)
        except ValueError:
            raise ValueError(f"{name} needs a {'YYYY-MM-DD date' if kind == 'date' else 'number'}") from None
    return out

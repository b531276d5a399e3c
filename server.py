#!/usr/bin/env python3
"""The one entry point: `python server.py SUBCOMMAND ...`.

Each subcommand lives in its own module under `cli/` exposing `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Modules import their heavy dependencies inside `run`, so `--help` stays fast and a
missing optional engine only affects the command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from config.errors import ConfigError

COMMANDS: dict[str, str] = {
    "serve": "cli.serve",
    "call": "cli.call",
    "transcribe": "cli.transcribe",
    "chat": "cli.chat",
    "render-prompt": "cli.render_prompt",
    "campaign": "cli.campaign",
    "payments": "cli.payments",
    "allocate": "cli.allocate",
    "evidence": "cli.evidence",
    "replay": "cli.replay",
    "store": "cli.store",
    "demo": "cli.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server.py", description="Outbound collections voice-bot server.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command whose module is not part of this build
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; a value that begins with "-" is accepted where a command names one positional as
    `dash_positional`: a SIP Call-ID may begin with "-" (pjsip draws it from base64url), and argparse
    would take `replay -V8In...` for an unknown option."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        slot = getattr(args, "dash_positional", None)
        if slot is None or getattr(args, slot) is not None or len(extra) != 1 or extra[0].startswith("--"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        setattr(args, slot, extra[0])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

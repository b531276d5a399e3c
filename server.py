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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`python -m telemetry.mask_stream`: the C11 masker over another program's log, stdin to stdout.

Why: Kamailio (deploy/kamailio) prints pieces of requests it cannot parse, phone numbers in
them, and it has no masking of its own. Its stderr is piped through this filter before anything
is written (docs/deploy.md), so the edge's log obeys the same rule as ours.
"""

from __future__ import annotations

import sys
from typing import TextIO

from telemetry.mask import mask_text


def mask_lines(source: TextIO, sink: TextIO) -> int:
    """Copy `source` to `sink` line by line with every digit run masked; returns the lines copied."""
    count = 0
    for line in source:
        sink.write(mask_text(line))
        sink.flush()  # a line is on disk as soon as it is masked: a crash loses nothing already logged
        count += 1
    return count


def main() -> int:
    source = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    mask_lines(source, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

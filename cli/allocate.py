"""`server.py allocate`: which channel (bot, agent, legal, hold) each case belongs in, and the rule that says so.

Reads cases from a JSON-lines file (`--cases`) or counts every borrower's history from the store
(`--store`, read-only: this command never changes what is stored; the daily run inside `serve`
stores moves). A case line that cannot be read is reported by line and field on stderr and the run
goes on; the exit code is 1 at the end when any line was bad, so a cron job notices.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from config.server_config import DEFAULT_SERVER_TOML

if TYPE_CHECKING:
    from campaign.allocation import Allocation

HELP = "allocate cases to the bot, a human agent queue, the legal track or hold (config/allocation.toml)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=Path, default=None,
                        help="JSON lines: borrower fields of the import plus a 'history' object")
    parser.add_argument("--store", type=Path, default=None, help="campaign store (default: [store] path of --config)")
    parser.add_argument("--today", default=None, help="YYYY-MM-DD (default: today in [campaign] timezone)")
    parser.add_argument("--json", action="store_true", help="one JSON object per case instead of a table")
    parser.add_argument("--rules", type=Path, default=None, help="allocation rules (default: config/allocation.toml)")
    parser.add_argument("--config", type=Path, default=DEFAULT_SERVER_TOML, help="server.toml (default: %(default)s)")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from campaign.allocation import CaseError, allocate, parse_case
    from config.allocation_config import DEFAULT_ALLOCATION_TOML, load_allocation
    from config.campaign_config import load_strategies
    from config.server_config import load_server_config
    from dialogue.segments import load_segments

    config = load_server_config(args.config)
    strategies = load_strategies(config.campaign.strategies_file)
    segments = load_segments(config.dialogue.segments_file, strategies=frozenset(strategies.strategies))
    book = load_allocation(args.rules or DEFAULT_ALLOCATION_TOML, segments=frozenset(s.name for s in segments),
                           strategies=frozenset(strategies.strategies))
    if args.today is not None:
        try:
            today = dt.date.fromisoformat(args.today)
        except ValueError:
            print(f"error: --today: expected YYYY-MM-DD, got {args.today!r}", file=err)
            return 2
    else:
        today = dt.datetime.now(ZoneInfo(config.campaign.timezone)).date()

    allocations: list[Allocation] = []
    bad = 0
    if args.cases is not None:
        try:
            lines = args.cases.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: cannot read {args.cases}: {exc}", file=err)
            return 2
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                case = parse_case(json.loads(line))
            except json.JSONDecodeError as exc:
                print(f"line {number}: (line): not JSON ({exc.msg} at column {exc.colno})", file=err)
                bad += 1
                continue
            except CaseError as exc:
                print(f"line {number}: {exc.field}: {exc.reason}", file=err)
                bad += 1
                continue
            allocations.append(allocate(case, book, today, segments))
    else:
        from campaign.allocation_history import cases_from_store

        path = args.store or config.store.path
        if not Path(path).is_file():
            print(f"error: no store at {path}", file=err)
            return 2
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            cases = cases_from_store(db, config.campaign.timezone)
        except sqlite3.Error as exc:
            print(f"error: {path}: cannot read the store ({exc}); run serve once to upgrade it", file=err)
            return 2
        finally:
            db.close()
        allocations = [allocate(case, book, today, segments) for case in cases]

    if args.json:
        for a in allocations:
            print(json.dumps(a.to_json(), ensure_ascii=False), file=out)
    else:
        print_table(allocations, today, out)
    return 1 if bad else 0


def print_table(rows: Sequence[Allocation], today: dt.date, out: TextIO) -> None:
    """A readable table (one row per case) and the totals per channel."""
    print(f"allocation on {today.isoformat()}", file=out)
    print(f"{'borrower':<14} {'channel':<7} {'queue/step':<22} {'days':>5}  {'rule':<18} segment/strategy", file=out)
    for a in rows:
        where = a.queue or (f"{a.step} ({a.mediation_kind})" if a.mediation_kind else a.step) or "-"
        seg = a.segment or "-"
        if a.strategy:
            seg += f" / {a.strategy}"
        print(f"{a.borrower_id:<14} {a.channel:<7} {where:<22} {a.days_past_due:>5}  {a.rule:<18} {seg}", file=out)
    counts = Counter(a.channel for a in rows)
    totals = ", ".join(f"{channel} {counts.get(channel, 0)}" for channel in ("bot", "agent", "legal", "hold"))
    print(f"total {len(rows)}: {totals}", file=out)

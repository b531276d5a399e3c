"""`server.py store migrate --from sqlite:PATH --to postgresql://...`: move a store to another engine.

The copy goes into an empty target only, in one transaction, and is then checked table by table
(row counts and a content SHA-256, campaign.store_copy); the table it prints is the evidence that
nothing was lost. Both stores are opened as `serve` would open them, so each is first brought to
this build's schema.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

HELP = "store maintenance: migrate (copy a store to another engine, verified per table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    mig = sub.add_parser("migrate", help="copy every table into an empty store; verify counts and hashes")
    mig.add_argument("--from", dest="source", required=True, metavar="ADDRESS",
                     help="sqlite:PATH or postgresql://USER@HOST/DATABASE")
    mig.add_argument("--to", dest="target", required=True, metavar="ADDRESS",
                     help="an empty store: postgresql://USER@HOST/DATABASE or sqlite:PATH")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from pathlib import Path

    from campaign.db import POSTGRES, StoreUrlError, parse_address, redact_url
    from campaign.store import SqlStore, open_address
    from campaign.store_copy import StoreCopyError, copy_store

    try:
        source_address, target_address = parse_address(args.source), parse_address(args.target)
    except StoreUrlError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if source_address.dialect != POSTGRES and not Path(source_address.target).is_file():
        print(f"error: no store at {source_address.target}", file=err)
        return 2
    if source_address == target_address:
        print("error: --from and --to name the same store", file=err)
        return 2

    opened: list[SqlStore] = []
    try:
        source = open_address(source_address)
        opened.append(source)
        target = open_address(target_address)
        opened.append(target)
        tables = copy_store(source, target)
    except (StoreUrlError, StoreCopyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    finally:
        for store in opened:
            store.close()
    print(f"{'table':<18} {'rows':>8} {'copied':>8}  {'sha256 (source)':<16} {'sha256 (target)':<16} check", file=out)
    for t in tables:
        print(f"{t.table:<18} {t.source_rows:>8} {t.target_rows:>8}  {t.source_sha256[:16]:<16} "
              f"{t.target_sha256[:16]:<16} {'ok' if t.ok else 'DIFFERS'}", file=out)
    bad = [t.table for t in tables if not t.ok]
    where = redact_url(args.target)
    if bad:
        print(f"error: {len(bad)} table(s) differ after the copy to {where}: {', '.join(bad)}", file=err)
        return 1
    print(f"copied {sum(t.source_rows for t in tables)} rows in {len(tables)} tables to {where}: all verified",
          file=out)
    return 0

"""`server.py evidence BORROWER_ID -o FILE.zip` and `server.py evidence --verify FILE.zip`: the legal-track package.

Writing reads the store directly (like `allocate --store`) and adds one `evidence` entry to its
audit log, with the manifest's SHA-256; verifying needs nothing but the ZIP (and, optionally, the
hash we recorded, so a package rewritten together with its manifest is caught too).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from config.server_config import DEFAULT_SERVER_TOML

HELP = "write a borrower's evidence package (ZIP, JSON manifest, SHA-256 per file) or verify one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("borrower_id", nargs="?", help="the borrower whose package to write")
    parser.add_argument("-o", "--output", type=Path, default=None, help="the ZIP to write")
    parser.add_argument("--store", type=Path, default=None, help="campaign store (default: [store] path of --config)")
    parser.add_argument("--verify", type=Path, default=None, metavar="FILE.zip", help="verify a package instead")
    parser.add_argument("--expect-hash", default=None, help="with --verify: the manifest SHA-256 we recorded")
    parser.add_argument("--config", type=Path, default=DEFAULT_SERVER_TOML, help="server.toml (default: %(default)s)")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from campaign.evidence import EvidenceError, verify_package, write_package

    if args.verify is not None:
        try:
            result = verify_package(args.verify, args.expect_hash)
        except EvidenceError as exc:
            print(f"error: {exc}", file=err)
            return 2
        for problem in result.problems:
            print(f"FAIL {problem}", file=out)
        verdict = "verified" if result.ok else "NOT verified"
        print(f"{args.verify}: {verdict}: {result.files} files, manifest SHA-256 {result.manifest_sha256}", file=out)
        return 0 if result.ok else 1
    if not args.borrower_id or args.output is None:
        print("error: give BORROWER_ID and -o FILE.zip (or --verify FILE.zip)", file=err)
        return 2
    import dataclasses

    from campaign.store import open_store
    from config.server_config import load_server_config

    settings = load_server_config(args.config).store
    if args.store is not None:
        settings = dataclasses.replace(settings, path=Path(args.store), url=None)
    if settings.url is None and not settings.path.is_file():
        print(f"error: no store at {settings.path}", file=err)
        return 2
    store = open_store(settings)
    try:
        digest, count = write_package(store, args.borrower_id, args.output, "cli", time.time())
    except EvidenceError as exc:
        print(f"error: {exc}", file=err)
        return 2
    finally:
        store.close()
    print(f"{args.output}: {count} files, manifest SHA-256 {digest}", file=out)
    return 0

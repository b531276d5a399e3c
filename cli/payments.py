"""`server.py payments import FILE.csv|FILE.jsonl` (and `payments list`): a thin client of the HTTP API.

Like `campaign import`, it holds no logic: the server validates the rows, stores the good ones
(idempotent by `reference`), reconciles promises and answers with a report, so a payments feed
dropped by a cron job and an upload from a script are the same operation in the audit log.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import quote, urlencode

from cli.campaign import TOKEN_ENV, ApiClient, _default_url, _progress_chunks
from config.server_config import DEFAULT_SERVER_TOML

HELP = "import payments (borrower_id, amount, paid_at, reference) and list promises through the HTTP API"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="API base URL (default: from [http] in --config)")
    parser.add_argument("--config", type=Path, default=DEFAULT_SERVER_TOML, help="server.toml for the default URL")
    parser.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="upload a CSV (header row) or JSON-lines payments file; reconciles promises")
    imp.add_argument("file", type=Path)
    ls = sub.add_parser("promises", help="list promises (optionally of one campaign and in one state)")
    ls.add_argument("--campaign", default=None)
    ls.add_argument("--state", default=None, choices=["pending", "kept", "partly_kept", "broken", "superseded"])


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: give --token or set {TOKEN_ENV}", file=err)
        return 2
    client = ApiClient(args.url or _default_url(args.config), token)
    try:
        if args.action == "import":
            path: Path = args.file
            if not path.is_file():
                print(f"error: no such file {path}", file=err)
                return 2
            kind = "application/x-ndjson" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "text/csv"
            status, body = client.request("POST", f"/api/payments?filename={quote(path.name)}",
                                          _progress_chunks(path, err), kind, length=path.stat().st_size)
            if status == 200:
                rec = body["reconciled"]
                print(f"rows {body['total_rows']}: {body['inserted']} new, {body['unchanged']} unchanged, "
                      f"{len(body['errors'])} bad; promises kept {len(rec['kept'])}, partly kept "
                      f"{len(rec['partly_kept'])}, broken {len(rec['broken'])}; paid claims verified "
                      f"{len(rec['claims_verified'])}", file=out)
                for e in body["errors"]:
                    print(f"  line {e['line']}: {e['reason']}", file=out)
                if body["errors"]:
                    return 1  # some rows were rejected: a cron job should notice
        else:
            query = {k: v for k, v in {"campaign": args.campaign, "state": args.state}.items() if v}
            path_q = "/api/promises" + (f"?{urlencode(query)}" if query else "")
            status, body = client.request("GET", path_q)
            if status == 200:  # the CSV export is GET /api/promises?format=csv
                for p in body["promises"]:
                    print(f"{p['id']}  {p['state']:<11}  {p['borrower_id']:<12}  {p['promised_date']}  "
                          f"{p['amount']:>10.2f}  paid {p['paid_amount']:>10.2f}  {p['campaign_id']}", file=out)
    except OSError as exc:
        print(f"error: cannot reach the server at {client.parts.geturl()}: {exc}", file=err)
        return 3
    if status >= 400:
        reason = body.get("error") if isinstance(body, dict) else body
        print(f"error {status}: {reason}", file=err)
        return 1
    return 0

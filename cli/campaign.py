"""`server.py campaign create|import|start|pause|resume|stop|status|list`: a thin client of the HTTP API.

It holds no campaign logic: every command is one API request, so what the CLI does an operator can
also do from the dashboard or a script, and the audit log records it the same way.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from config.server_config import DEFAULT_SERVER_TOML

HELP = "operate campaigns through the server's HTTP API (create, import, start, pause, resume, stop, status)"
TOKEN_ENV = "VOICEBOT_TOKEN"
CHUNK = 64 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="API base URL (default: from [http] in --config)")
    parser.add_argument("--config", type=Path, default=DEFAULT_SERVER_TOML, help="server.toml for the default URL")
    parser.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a campaign; prints its id")
    create.add_argument("name")
    create.add_argument("--strategy", default=None, help="override every segment's strategy")
    create.add_argument("--timezone", default=None)
    create.add_argument("--trunk", default=None)
    create.add_argument("--caller-id", default=None)
    create.add_argument("--max-concurrent-calls", type=int, default=None)
    create.add_argument("--calls-per-second", type=float, default=None)
    imp = sub.add_parser("import", help="upload borrowers from a CSV (UTF-8/GBK) or JSON-lines file")
    imp.add_argument("campaign_id")
    imp.add_argument("file", type=Path)
    for name in ("start", "pause", "resume", "stop", "status"):
        p = sub.add_parser(name, help=f"{name} a campaign" if name != "status" else "show a campaign's progress")
        p.add_argument("campaign_id")
    sub.add_parser("list", help="list campaigns")


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.parts = parts
        self.token = token
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
        return cls(self.parts.hostname or "", self.parts.port, timeout=self.timeout)

    def request(
        self, method: str, path: str, body: bytes | Iterator[bytes] | None = None, content_type: str | None = None,
        length: int | None = None,
    ) -> tuple[int, Any]:
        conn = self._connection()
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        if length is not None:
            headers["Content-Length"] = str(length)
        try:
            conn.request(method, self.parts.path.rstrip("/") + path, body=body, headers=headers)
            res = conn.getresponse()
            raw = res.read()
        finally:
            conn.close()
        try:
            return res.status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return res.status, {"error": raw.decode("utf-8", "replace")[:200]}


def _progress_chunks(path: Path, out: TextIO) -> Iterator[bytes]:
    """Yield the file in chunks while drawing an upload progress bar on `out`."""
    total = path.stat().st_size
    sent = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sent += len(chunk)
            filled = int(30 * sent / total) if total else 30
            out.write(f"\rupload [{'#' * filled}{'.' * (30 - filled)}] {sent * 100 // max(total, 1):3d}%")
            out.flush()
            yield chunk
    out.write("\n")


def _default_url(config_path: Path) -> str:
    from config.server_config import load_server_config

    http = load_server_config(config_path).http
    host = "127.0.0.1" if http.bind_address in ("0.0.0.0", "") else http.bind_address
    return f"http://{host}:{http.port}"


def _print_status(body: dict[str, Any], out: TextIO) -> None:
    c = body["campaign"]
    print(f"{c['name']} ({c['id']}): {c['state']}", file=out)
    print(f"  borrowers {body['borrowers']}  by status {body['borrowers_by_status']}", file=out)
    print(f"  attempts {body['attempts']}  in flight {body['calls_in_flight']}  "
          f"left today {body['attempts_left_today']}", file=out)
    print(f"  dispositions {body['dispositions']}", file=out)
    print(f"  outcomes {body['outcomes']}", file=out)
    print(f"  promises {body['promises']}  promised amount {body['promised_amount']:.2f}", file=out)
    if body["refusals_by_rule"]:
        print(f"  refused by rule {body['refusals_by_rule']}", file=out)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: give --token or set {TOKEN_ENV}", file=err)
        return 2
    client = ApiClient(args.url or _default_url(args.config), token)
    action = args.action
    try:
        if action == "create":
            payload = {k: v for k, v in {
                "name": args.name, "strategy": args.strategy, "timezone": args.timezone, "trunk": args.trunk,
                "caller_id": args.caller_id, "max_concurrent_calls": args.max_concurrent_calls,
                "calls_per_second": args.calls_per_second}.items() if v is not None}
            status, body = client.request("POST", "/api/campaigns", json.dumps(payload).encode(), "application/json")
            if status == 201:
                print(body["id"], file=out)
        elif action == "import":
            path: Path = args.file
            if not path.is_file():
                print(f"error: no such file {path}", file=err)
                return 2
            kind = "application/x-ndjson" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "text/csv"
            status, body = client.request(
                "POST", f"/api/campaigns/{quote(args.campaign_id)}/borrowers?filename={quote(path.name)}",
                _progress_chunks(path, err), kind, length=path.stat().st_size,
            )
            if status == 200:
                print(f"rows {body['total_rows']}: {body['inserted']} new, {body['merged']} merged, "
                      f"{body['unchanged']} unchanged, {body['duplicates']} duplicates, "
                      f"{len(body['errors'])} bad", file=out)
                for e in body["errors"]:
                    print(f"  line {e['line']}: {e['reason']}", file=out)
        elif action in ("start", "pause", "resume", "stop"):
            status, body = client.request("POST", f"/api/campaigns/{quote(args.campaign_id)}/{action}", b"{}",
                                          "application/json")
            if status == 200:
                print(f"{body['id']}: {body['state']}", file=out)
        elif action == "status":
            status, body = client.request("GET", f"/api/campaigns/{quote(args.campaign_id)}/progress")
            if status == 200:
                _print_status(body, out)
        else:
            status, body = client.request("GET", "/api/campaigns")
            if status == 200:
                for c in body["campaigns"]:
                    print(f"{c['id']}  {c['state']:<9}  {c['name']}", file=out)
    except OSError as exc:
        print(f"error: cannot reach the server at {client.parts.geturl()}: {exc}", file=err)
        return 3
    if status >= 400:
        reason = body.get("error") if isinstance(body, dict) else body
        rule = f" (rule {body['rule']})" if isinstance(body, dict) and body.get("rule") else ""
        print(f"error {status}: {reason}{rule}", file=err)
        return 1
    return 0

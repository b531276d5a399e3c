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


EXIT_ROWS_REJECTED = 4  # `import`: the good rows were imported, but some rows were rejected


def _connection_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """--url/--config/--token before the action, or after it (`campaign status ID --token ...`).

    After the action they default to SUPPRESS, so an option given before the action is not
    overwritten by the sub-parser's default.
    """
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--url", default=default, help="API base URL (default: from [http] in --config)")
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS if suppress else DEFAULT_SERVER_TOML,
                        help="server.toml for the default URL")
    parser.add_argument("--token", default=default, help=f"bearer token (default: ${TOKEN_ENV})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _connection_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, suppress=True)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", parents=[common], help="create a campaign; prints its id")
    create.add_argument("name")
    create.add_argument("--strategy", default=None, help="override every segment's strategy")
    create.add_argument("--timezone", default=None)
    create.add_argument("--trunk", default=None)
    create.add_argument("--caller-id", default=None)
    create.add_argument("--max-concurrent-calls", type=int, default=None)
    create.add_argument("--calls-per-second", type=float, default=None)
    imp = sub.add_parser("import", parents=[common],
                         help="upload borrowers from a CSV (UTF-8/GBK) or JSON-lines file; "
                              f"exits {EXIT_ROWS_REJECTED} when rows were rejected")
    imp.add_argument("campaign_id")
    imp.add_argument("file", type=Path)
    for name in ("start", "pause", "resume", "stop", "status"):
        p = sub.add_parser(name, parents=[common],
                           help=f"{name} a campaign" if name != "status" else "show a campaign's progress as a table")
        p.add_argument("campaign_id")
        if name == "status":
            p.add_argument("--json", action="store_true", help="print the API's JSON instead of the table")
    sub.add_parser("list", parents=[common], help="list campaigns")


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
    """The progress snapshot as an aligned two-column table, counts sorted largest first."""
    c = body["campaign"]
    rows: list[tuple[str, str]] = [
        ("campaign", f"{c['name']} ({c['id']})"), ("state", c["state"]), ("timezone", c["timezone"]),
        ("strategy", c.get("strategy") or "by segment"), ("", ""),
        ("borrowers", str(body["borrowers"])),
    ]

    def counts(title: str, values: dict[str, int]) -> None:
        rows.append((title, "" if values else "-"))
        rows.extend((f"  {key}", str(n)) for key, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))

    rows.extend((f"  {key}", str(n)) for key, n in sorted(body["borrowers_by_status"].items()))
    rows += [
        ("attempts", str(body["attempts"])), ("calls in flight", str(body["calls_in_flight"])),
        ("attempts left today", str(body["attempts_left_today"])), ("", ""),
    ]
    counts("dispositions", body["dispositions"])
    counts("outcomes", body["outcomes"])
    rows += [("promises", str(body["promises"])), ("promised amount", f"{body['promised_amount']:,.2f}")]
    if body["refusals_by_rule"]:
        counts("refused by rule", body["refusals_by_rule"])
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}".rstrip(), file=out)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: give --token or set {TOKEN_ENV}", file=err)
        return 2
    client = ApiClient(getattr(args, "url", None) or _default_url(getattr(args, "config", DEFAULT_SERVER_TOML)),
                       token)
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
                for warning in body.get("warnings", []):
                    print(f"  warning: {warning}", file=out)
                if body["errors"]:
                    print(f"error: {len({e['line'] for e in body['errors']})} row(s) rejected; fix them and import "
                          "the file again (rows already imported stay unchanged)", file=err)
                    return EXIT_ROWS_REJECTED
        elif action in ("start", "pause", "resume", "stop"):
            status, body = client.request("POST", f"/api/campaigns/{quote(args.campaign_id)}/{action}", b"{}",
                                          "application/json")
            if status == 200:
                print(f"{body['id']}: {body['state']}", file=out)
        elif action == "status":
            status, body = client.request("GET", f"/api/campaigns/{quote(args.campaign_id)}/progress")
            if status == 200:
                if args.json:
                    print(json.dumps(body, ensure_ascii=False, indent=2), file=out)
                else:
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

"""`server.py payments import FILE` drives the real HTTP API: rows reported, promises reconciled."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from api_harness import reactor
from api_stack import TOKEN, ApiStack
from campaign_fakes import at_local, borrower_row, run_for

from server import build_parser


def test_cli_payments_import_reports_rows_and_reconciles(api_stack: ApiStack, tmp_path: Path) -> None:
    """`payments import FILE.csv` marks a stored promise kept, lists a bad row and exits 1 for it."""
    h = api_stack.http
    api_stack.runner.outcome = lambda b: {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 600}
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "pay"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": [borrower_row(1)]})
    h.call("POST", f"/api/campaigns/{cid}/start", token=TOKEN)
    run_for(api_stack.clock, 60)
    api_stack.clock.advance(at_local(2026, 12, 2, 12, 0) - api_stack.clock.seconds())
    feed = tmp_path / "payments.csv"
    feed.write_text("borrower_id,amount,paid_at,reference\nB001,600,2026-12-02T09:30,P-1\nB001,abc,2026-12-02,P-2\n")
    args = build_parser().parse_args(["payments", "--url", h.base, "--token", TOKEN, "import", str(feed)])
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(code=args.run(args, out, err)))
    thread.start()
    while thread.is_alive():
        reactor.iterate(0.005)
    assert result["code"] == 1, err.getvalue()
    assert "rows 2: 1 new, 0 unchanged, 1 bad; promises kept 1" in out.getvalue()
    assert "line 3: amount: expected a positive number" in out.getvalue()
    ledger = api_stack.app.service.ledger
    assert ledger is not None and [p["state"] for p in ledger.list_promises(cid)] == ["kept"]

"""Promises, payments and the review queue over real HTTP, validated against /openapi.json."""

from __future__ import annotations

from typing import Any

import jsonschema
from api_harness import Response
from api_stack import TOKEN, ApiStack
from campaign_fakes import at_local, borrower_row, run_for

from api.openapi import OPENAPI


def conforms(response: Response, schema: str) -> Any:
    """Validate a JSON response body against a named schema of /openapi.json; return the body."""
    body = response.json()
    jsonschema.Draft202012Validator({**OPENAPI, "$ref": f"#/components/schemas/{schema}"}).validate(body)
    return body


def _campaign_with(api_stack: ApiStack, outcome: dict[str, Any], n: int = 1) -> str:
    h = api_stack.http
    api_stack.runner.outcome = lambda b: dict(outcome)
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "p"}).json()["id"]
    rows = [borrower_row(i) for i in range(1, n + 1)]
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": rows}).status == 200
    assert h.call("POST", f"/api/campaigns/{cid}/start", token=TOKEN).status == 200
    run_for(api_stack.clock, 60)
    return str(cid)


def test_payments_import_marks_the_promise_kept_and_promises_are_listed(api_stack: ApiStack) -> None:
    """POST /api/payments (CSV) reconciles; GET /api/promises filters by campaign and state; CSV export works."""
    h = api_stack.http
    cid = _campaign_with(api_stack, {"disposition": "promise_to_pay", "ptp_date": "2026-12-02", "ptp_amount": 900})
    pending = conforms(h.call("GET", f"/api/promises?campaign={cid}&state=pending", token=TOKEN), "PromiseList")
    assert [p["amount"] for p in pending["promises"]] == [900.0]
    api_stack.clock.advance(at_local(2026, 12, 2, 12, 0) - api_stack.clock.seconds())
    feed = b"borrower_id,amount,paid_at,reference\nB001,900,2026-12-02T10:00,BANK-1\nB404,5,2026-12-02,BANK-2\n"
    r = h.call("POST", "/api/payments?filename=feed.csv", token=TOKEN, body=feed, content_type="text/csv")
    report = conforms(r, "PaymentReport")
    assert r.status == 200 and report["inserted"] == 1 and len(report["reconciled"]["kept"]) == 1
    unknown = "borrower_id: unknown borrower 'B404' (import the borrower first)"
    assert report["errors"] == [{"line": 3, "reason": unknown}]
    again = conforms(h.call("POST", "/api/payments", token=TOKEN, json_body={"rows": [
        {"borrower_id": "B001", "amount": 900, "paid_at": "2026-12-02T10:00", "reference": "BANK-1"}]}),
        "PaymentReport")
    assert (again["inserted"], again["unchanged"]) == (0, 1)
    kept = conforms(h.call("GET", "/api/promises?state=kept", token=TOKEN), "PromiseList")["promises"]
    assert len(kept) == 1 and kept[0]["paid_amount"] == 900.0 and [e["state"] for e in kept[0]["history"]] == [
        "pending", "kept"]
    csv = h.call("GET", f"/api/promises?campaign={cid}&format=csv", token=TOKEN)
    assert csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,borrower_id,campaign_id") and ",kept," in lines[1] and len(lines) == 2
    summary = conforms(h.call("GET", f"/api/promises/summary?campaign={cid}", token=TOKEN), "PromiseSummary")
    assert summary["total"]["captured"] == 1 and summary["total"]["kept_rate"] == 1.0
    assert h.call("GET", "/api/promises?state=lost", token=TOKEN).status == 400
    assert h.call("GET", "/api/promises?campaign=cmp-nope", token=TOKEN).status == 404
    assert h.call("POST", "/api/payments", token=TOKEN, json_body={"rows": "x"}).status == 400


def test_review_queue_lists_complaints_and_resolving_resumes_the_borrower(api_stack: ApiStack) -> None:
    """GET /api/review lists the complaint; resolving with resume puts the borrower back; twice is 409."""
    h = api_stack.http
    cid = _campaign_with(api_stack, {"disposition": "complaint", "complaint": True})
    items = conforms(h.call("GET", "/api/review", token=TOKEN), "ReviewList")["items"]
    assert [(i["kind"], i["borrower_id"], i["campaign_id"]) for i in items] == [("complaint", "B001", cid)]
    rid = items[0]["id"]
    bad = h.call("POST", f"/api/review/{rid}/resolve", token=TOKEN, json_body={"resolution": ""})
    assert bad.status == 400 and conforms(bad, "Error")["error"].startswith("resolution")
    ok = h.call("POST", f"/api/review/{rid}/resolve", token=TOKEN,
                json_body={"resolution": "called back by agent; explained fees", "resume": True})
    done = conforms(ok, "ReviewItem")
    assert done["state"] == "resolved" and done["borrowers_resumed"] == 1
    assert api_stack.app.store.get_borrower(cid, "B001").status == "active"
    assert h.call("POST", f"/api/review/{rid}/resolve", token=TOKEN, json_body={"resolution": "x"}).status == 409
    assert h.call("POST", "/api/review/999/resolve", token=TOKEN, json_body={"resolution": "x"}).status == 404
    assert conforms(h.call("GET", "/api/review", token=TOKEN), "ReviewList")["items"] == []
    assert any(a["action"] == "resolve_review" for a in api_stack.app.store.audit_log(cid))

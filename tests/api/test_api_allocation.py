"""POST /api/allocation/run and GET /api/allocation over real HTTP, validated against /openapi.json."""

from __future__ import annotations

from api_stack import TOKEN, ApiStack
from campaign_fakes import borrower_row
from test_api_promises import conforms


def test_allocation_run_and_overview_match_openapi(api_stack: ApiStack) -> None:
    """A run stores one move per new case with its rule; the overview counts channels and lists today's moves;
    the run is audit-logged with the token's actor; no token is 401."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "a"}).json()["id"]
    rows = [borrower_row(1, amount_due=70000.0), borrower_row(2)]
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": rows}).status == 200
    report = conforms(h.call("POST", "/api/allocation/run", token=TOKEN), "AllocationRunReport")
    assert report["cases"] == 2 and report["counts"] == {"bot": 1, "agent": 1, "legal": 0, "hold": 0}
    moves = {m["borrower_id"]: (m["channel"], m["queue"], m["rule"], m["previous_channel"]) for m in report["moves"]}
    assert moves == {"B001": ("agent", "senior", "senior_agent", None), "B002": ("bot", None, "bot_by_segment", None)}
    assert report["moves"][0]["actor"].startswith("token:")
    overview = conforms(h.call("GET", "/api/allocation", token=TOKEN), "AllocationOverview")
    assert overview["counts"]["agent"] == 1 and len(overview["moves"]) == 2 and overview["today"] == "2026-11-30"
    assert conforms(h.call("POST", "/api/allocation/run", token=TOKEN), "AllocationRunReport")["moves"] == []
    assert [e["action"] for e in api_stack.app.store.audit_log()].count("allocate") == 2
    assert h.call("GET", "/api/allocation").status == 401

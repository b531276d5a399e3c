"""What the dashboard reads: live call states and lines, rates, promises, callbacks, valid actions, headers."""

from __future__ import annotations

from typing import Any

import jsonschema
from api_harness import Response
from api_stack import TOKEN, ApiStack
from campaign_fakes import borrower_row, run_for

from api.openapi import OPENAPI


def conforms(response: Response, schema: str) -> Any:
    """Validate a JSON response body against a named schema of /openapi.json; return the body."""
    assert response.status == 200, response.body
    body = response.json()
    jsonschema.Draft202012Validator({**OPENAPI, "$ref": f"#/components/schemas/{schema}"}).validate(body)
    return body


def test_every_response_carries_csp_and_frame_options(api_stack: ApiStack) -> None:
    """Dashboard, script, styles, API (200, 401, 404), /metrics and /openapi.json all send CSP + X-Frame-Options."""
    h = api_stack.http
    responses = [h.call("GET", "/"), h.call("GET", "/dashboard.js"), h.call("GET", "/dashboard.css"),
                 h.call("GET", "/api/campaigns", token=TOKEN), h.call("GET", "/api/campaigns"),
                 h.call("GET", "/api/nothing", token=TOKEN), h.call("GET", "/metrics"), h.call("GET", "/openapi.json"),
                 h.call("GET", "/nope")]
    assert [r.status for r in responses] == [200, 200, 200, 200, 401, 404, 200, 200, 404]
    for r in responses:
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers.get("X-Frame-Options") == "DENY"
    assert responses[2].headers["Content-Type"].startswith("text/css")
    assert b"<style" not in responses[0].body and b"style=" not in responses[0].body  # nothing inline for CSP


def test_live_calls_by_state_and_lines_from_capacity(api_stack: ApiStack) -> None:
    """While ringing a call is 'dialing', once answered 'talking'; lines in use/total come from the endpoint."""
    h = api_stack.http
    api_stack.placer.slots = 4
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "live", "max_concurrent_calls": 2}).json()
    h.call("POST", f"/api/campaigns/{cid['id']}/borrowers", token=TOKEN,
           json_body={"rows": [borrower_row(i) for i in range(2)]})
    h.call("POST", f"/api/campaigns/{cid['id']}/start", token=TOKEN)
    api_stack.clock.advance(1)
    ringing = conforms(h.call("GET", "/api/live", token=TOKEN), "LiveCalls")
    assert ringing["by_state"] == {"dialing": 2} and ringing["lines"] == {"in_use": 2, "total": 4}
    run_for(api_stack.clock, 6)
    talking = conforms(h.call("GET", "/api/live", token=TOKEN), "LiveCalls")
    assert talking["by_state"] == {"talking": 2}
    assert all(c["state_since"] > c["started_at"] for c in talking["calls"])
    run_for(api_stack.clock, 60)
    assert conforms(h.call("GET", "/api/live", token=TOKEN), "LiveCalls")["lines"]["in_use"] == 0


def test_overview_rates_promises_callbacks_and_actions(api_stack: ApiStack) -> None:
    """Promises list dates and amounts, a callback is queued, rates are counted, actions follow the state."""
    h = api_stack.http
    outcomes = {"B000": {"disposition": "promise_to_pay", "ptp_date": "2026-12-05", "ptp_amount": 800.0},
                "B001": {"disposition": "callback", "callback_at": "2026-11-30T16:00:00+08:00"},
                "B002": {"disposition": "wrong_number"}}
    api_stack.runner.outcome = lambda b: outcomes[b.id]
    api_stack.placer.script = lambda target, n: "no_answer" if target.endswith("0003") else "answered"
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "ov"}).json()["id"]
    empty = conforms(h.call("GET", f"/api/campaigns/{cid}/overview", token=TOKEN), "Overview")
    assert empty["actions"] == ["stop"] and empty["answer_rate"] is None  # no borrowers: start is not offered
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN,
           json_body={"rows": [borrower_row(i) for i in range(4)]})
    assert conforms(h.call("GET", f"/api/campaigns/{cid}/overview", token=TOKEN), "Overview")["actions"] == [
        "start", "stop"]
    h.call("POST", f"/api/campaigns/{cid}/start", token=TOKEN)
    run_for(api_stack.clock, 60)
    o = conforms(h.call("GET", f"/api/campaigns/{cid}/overview", token=TOKEN), "Overview")
    assert o["actions"] == ["pause", "stop"]
    assert [(p["borrower_id"], p["ptp_date"], p["ptp_amount"]) for p in o["promises"]] == [
        ("B000", "2026-12-05", 800.0)]
    assert [(c["borrower_id"], c["requested"]) for c in o["callbacks"]] == [("B001", "2026-11-30T16:00:00+08:00")]
    assert (o["attempts_finished"], o["answered"], o["answer_rate"]) == (4, 3, 0.75)
    assert (o["borrowers_dialled"], o["borrowers_reached"], o["contact_rate"]) == (4, 2, 0.5)
    h.call("POST", f"/api/campaigns/{cid}/pause", token=TOKEN)
    paused = conforms(h.call("GET", f"/api/campaigns/{cid}/overview", token=TOKEN), "Overview")
    assert paused["actions"] == ["resume", "stop"]

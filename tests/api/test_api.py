"""The JSON API over real HTTP: auth, validation, size limits, the campaign flow, OpenAPI conformance."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from api_harness import Response
from api_stack import TOKEN, ApiStack
from campaign_fakes import borrower_row, run_for

from api.openapi import OPENAPI


def conforms(response: Response, schema: str) -> Any:
    """Validate a JSON response body against a named schema of /openapi.json; return the body."""
    body = response.json()
    jsonschema.Draft202012Validator({**OPENAPI, "$ref": f"#/components/schemas/{schema}"}).validate(body)
    return body


HEADER = "id,name,gender,phone,amount_due,overdue_days,due_date,product,creditor,risk_score,value_tier,timezone"


def _csv(n: int) -> bytes:
    lines = [HEADER] + [
        f"B{i:03d},张伟,male,1380013{i:04d},3200,12,2026-11-16,信用贷,示例消费金融,620,normal,Asia/Shanghai"
        for i in range(n)
    ]
    return "\n".join(lines).encode("gbk")


def test_api_refuses_missing_and_wrong_tokens(api_stack: ApiStack) -> None:
    """Without a bearer token or with a wrong one every API path answers 401 with a reason."""
    h = api_stack.http
    assert h.call("GET", "/api/campaigns").status == 401
    wrong = h.call("GET", "/api/campaigns", token=TOKEN[:-1] + "x")
    assert wrong.status == 401 and conforms(wrong, "Error")["error"]
    assert wrong.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert h.call("GET", "/api/campaigns", token=TOKEN).status == 200


def test_validation_errors_are_400_with_the_field(api_stack: ApiStack) -> None:
    """Bad campaign bodies are refused with 400 naming the field, and create nothing."""
    h = api_stack.http
    cases = [({"name": ""}, "name"), ({"name": "x", "strategy": "nope"}, "strategy"),
             ({"name": "x", "colour": 1}, "colour"), ({"name": "x", "timezone": "Mars/Base"}, "timezone"),
             ({"name": "x", "max_concurrent_calls": "many"}, "max_concurrent_calls"),
             ({"name": "x", "caller_id": "9553@evil.example"}, "caller_id")]
    for body, field in cases:
        r = h.call("POST", "/api/campaigns", token=TOKEN, json_body=body)
        assert r.status == 400 and conforms(r, "Error")["error"].startswith(field), (body, r.body)
    broken = h.call("POST", "/api/campaigns", token=TOKEN, body=b"{nope", content_type="application/json")
    assert broken.status == 400
    assert h.call("GET", "/api/campaigns", token=TOKEN).json() == {"campaigns": []}


def test_oversized_upload_is_413_and_stores_nothing(api_stack: ApiStack) -> None:
    """A body above max_body_bytes is refused with 413 and no borrower is imported."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "big"}).json()["id"]
    r = h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, body=_csv(1200), content_type="text/csv")
    assert r.status == 413 and "larger than" in r.json()["error"]
    assert api_stack.app.store.list_borrowers(cid) == []


def test_campaign_flow_matches_openapi(api_stack: ApiStack) -> None:
    """Create, upload, start, progress, calls, transcript, recording: each response matches its schema."""
    h = api_stack.http
    api_stack.runner.recording_dir = api_stack.app.config.calls.recording_dir
    api_stack.runner.recording_dir.mkdir(parents=True)
    api_stack.runner.outcome = lambda b: {"disposition": "promise_to_pay", "ptp_date": "2026-12-05",
                                          "ptp_amount": 800.0}
    created = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "Nov M1", "max_concurrent_calls": 2})
    assert created.status == 201
    cid = conforms(created, "Campaign")["id"]
    conforms(h.call("GET", "/api/campaigns", token=TOKEN), "CampaignList")
    bad = _csv(3) + "\nB999,李四,male,123,1,1,2026-11-16,x,y,1,normal,Asia/Shanghai".encode("gbk")
    report = conforms(h.call("POST", f"/api/campaigns/{cid}/borrowers?filename=list.csv", token=TOKEN, body=bad,
                             content_type="text/csv"), "ImportReport")
    assert report["inserted"] == 3 and report["errors"][0]["line"] == 5
    started = conforms(h.call("POST", f"/api/campaigns/{cid}/start", token=TOKEN), "Campaign")
    assert started["state"] == "running"
    api_stack.clock.advance(6)
    live = conforms(h.call("GET", "/api/live", token=TOKEN), "LiveCalls")
    assert live["calls_in_flight"] == 2 and "****" in live["calls"][0]["phone"]
    run_for(api_stack.clock, 120)
    progress = conforms(h.call("GET", f"/api/campaigns/{cid}/progress", token=TOKEN), "Progress")
    assert progress["outcomes"] == {"promise_to_pay": 3} and progress["promised_amount"] == 2400.0
    calls = conforms(h.call("GET", f"/api/campaigns/{cid}/calls?limit=10", token=TOKEN), "CallList")["calls"]
    assert len(calls) == 3 and all("****" in c["phone"] for c in calls)
    detail = conforms(h.call("GET", f"/api/calls/{calls[0]['call_id']}", token=TOKEN), "CallDetail")
    assert detail["turns"][0]["prompt_text"] == "hello"
    audio = h.call("GET", f"/api/calls/{calls[0]['call_id']}/recording", token=TOKEN)
    assert audio.status == 200 and audio.body[:4] == b"RIFF" and audio.headers["Content-Type"] == "audio/wav"
    assert h.call("GET", f"/api/calls/{calls[0]['call_id']}/recording").status == 401
    paused = h.call("POST", f"/api/campaigns/{cid}/resume", token=TOKEN)
    assert paused.status == 409 and "running" in conforms(paused, "Error")["error"]
    actions = [a["action"] for a in api_stack.app.store.audit_log(cid)]
    assert actions[:3] == ["create", "import", "start"]


def test_call_now_refusal_names_the_rule(api_stack: ApiStack) -> None:
    """'Call now' dials when allowed (202) and is refused with 409 and a rule when not."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "manual"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": [borrower_row(1)]})
    ok = h.call("POST", f"/api/campaigns/{cid}/borrowers/B001/call", token=TOKEN)
    assert ok.status == 202 and conforms(ok, "DialRequested")["attempt_id"]
    again = h.call("POST", f"/api/campaigns/{cid}/borrowers/B001/call", token=TOKEN)
    assert again.status == 409 and again.json()["rule"] == "IN_CALL"
    api_stack.app.store.add_opt_out("+8613800130001", "B001", cid, "test", api_stack.clock.seconds())
    run_for(api_stack.clock, 60)
    dnc = h.call("POST", f"/api/campaigns/{cid}/borrowers/B001/call", token=TOKEN)
    assert dnc.status == 409 and dnc.json()["rule"] in ("C7", "NOT_ACTIVE")
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers/NOPE/call", token=TOKEN).status == 404


def test_call_now_with_the_endpoint_full_is_409_endpoint_busy(api_stack: ApiStack) -> None:
    """'Call now' while every SIP call slot is taken: 409 ENDPOINT_BUSY, no attempt stored, no INVITE."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "full"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": [borrower_row(1)]})
    api_stack.placer.slots = 0
    busy = h.call("POST", f"/api/campaigns/{cid}/borrowers/B001/call", token=TOKEN)
    assert busy.status == 409 and conforms(busy, "Error")["rule"] == "ENDPOINT_BUSY"
    assert api_stack.app.store.attempts(cid) == [] and api_stack.placer.dials == []
    api_stack.placer.slots = None
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers/B001/call", token=TOKEN).status == 202


def test_metrics_and_openapi_are_served(api_stack: ApiStack) -> None:
    """/metrics is Prometheus text with the required families; /openapi.json is a valid 3.1 document."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "m"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": [borrower_row(1)]})
    h.call("POST", f"/api/campaigns/{cid}/start", token=TOKEN)
    run_for(api_stack.clock, 60)
    text = h.call("GET", "/metrics").body.decode()
    for family in ("voicebot_calls_in_flight", "voicebot_call_dispositions_total", "voicebot_attempts_refused_total",
                   "voicebot_asr_final_seconds", "voicebot_voice_to_voice_seconds"):
        assert f"# TYPE {family} " in text
    assert 'voicebot_call_dispositions_total{disposition="answered",outcome="refused"} 1' in text
    doc = h.call("GET", "/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    jsonschema.Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    for route_method, pattern, _handler in api_stack.app.site.resource.routes:  # every route is documented
        documented = [p for p, ops in doc["paths"].items() if route_method.lower() in ops]
        sample = {p: p.replace("{campaign_id}", "c1").replace("{borrower_id}", "b1").replace("{call_id}", "x1")
                  for p in documented}
        assert any(pattern.fullmatch(s) for s in sample.values()), pattern.pattern


@pytest.mark.parametrize("path", ["/", "/dashboard.js"])
def test_dashboard_assets_are_served(api_stack: ApiStack, path: str) -> None:
    """The dashboard page and script come from the same server without a token."""
    r = api_stack.http.call("GET", path)
    assert r.status == 200 and len(r.body) > 500


def test_percent_encoded_borrower_id_reaches_its_borrower(api_stack: ApiStack) -> None:
    """`客户 001` percent-encoded in the path is decoded: call now dials it; a `%2F` stays inside one segment."""
    from urllib.parse import quote

    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "cn ids"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": [borrower_row(1, id="客户 001")]})
    ok = h.call("POST", f"/api/campaigns/{cid}/borrowers/{quote('客户 001')}/call", token=TOKEN)
    assert ok.status == 202, ok.body
    missing = h.call("POST", f"/api/campaigns/{cid}/borrowers/{quote('a/b', safe='')}/call", token=TOKEN)
    assert missing.status == 404 and "'a/b'" in conforms(missing, "Error")["error"]
    assert h.call("GET", f"/api/campaigns/{cid}/borrowers/%FF/call", token=TOKEN).status in (400, 405)
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers/%FF/call", token=TOKEN).status == 400


def test_borrower_list_is_paged_and_filtered(api_stack: ApiStack) -> None:
    """GET .../borrowers pages by id with the total, filters by status and id text, masks numbers."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "list"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN,
           json_body={"rows": [borrower_row(i) for i in range(1, 8)]})
    api_stack.app.store.schedule_borrower(cid, "B003", status="stopped", next_due_at=None, next_reason="stopped",
                                          trunk_error_streak=0, stop_reason="opt_out")
    page = conforms(h.call("GET", f"/api/campaigns/{cid}/borrowers?limit=3&offset=3", token=TOKEN), "BorrowerPage")
    assert page["total"] == 7 and [b["borrower_id"] for b in page["borrowers"]] == ["B004", "B005", "B006"]
    assert all("****" in p["phone"] for b in page["borrowers"] for p in b["phones"])
    stopped = conforms(h.call("GET", f"/api/campaigns/{cid}/borrowers?status=stopped", token=TOKEN), "BorrowerPage")
    assert stopped["total"] == 1 and stopped["borrowers"][0]["stop_reason"] == "opt_out"
    found = conforms(h.call("GET", f"/api/campaigns/{cid}/borrowers?q=007", token=TOKEN), "BorrowerPage")
    assert [b["borrower_id"] for b in found["borrowers"]] == ["B007"]
    bad = h.call("GET", f"/api/campaigns/{cid}/borrowers?status=happy", token=TOKEN)
    assert bad.status == 400 and conforms(bad, "Error")["error"].startswith("status")
    assert h.call("GET", "/api/campaigns/nope/borrowers", token=TOKEN).status == 404


def test_upload_into_finished_campaign_is_409(api_stack: ApiStack) -> None:
    """Uploading borrowers to a stopped (finished) campaign answers 409 with the reason and stores nothing."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "done"}).json()["id"]
    h.call("POST", f"/api/campaigns/{cid}/stop", token=TOKEN)
    r = h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": [borrower_row(1)]})
    assert r.status == 409 and "finished" in conforms(r, "Error")["error"]
    csv_r = h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, body=_csv(2), content_type="text/csv")
    assert csv_r.status == 409 and api_stack.app.store.list_borrowers(cid) == []

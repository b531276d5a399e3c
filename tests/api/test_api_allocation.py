"""POST /api/allocation/run and GET /api/allocation over real HTTP, validated against /openapi.json."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from api_stack import TOKEN, ApiStack
from campaign_fakes import borrower_row, run_for
from test_api_promises import _campaign_with, conforms

from campaign.evidence import verify_package


def test_allocation_run_and_overview_match_openapi(api_stack: ApiStack) -> None:
    """An import allocates the new borrowers at once; a run after a complaint moves B002 with its previous channel;
    the overview counts channels and lists today's moves; runs are audit-logged with the actor; no token is 401."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "a"}).json()["id"]
    rows = [borrower_row(1, amount_due=70000.0), borrower_row(2)]
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": rows}).status == 200
    overview = conforms(h.call("GET", "/api/allocation", token=TOKEN), "AllocationOverview")
    assert overview["counts"] == {"bot": 1, "agent": 1, "legal": 0, "hold": 0} and overview["today"] == "2026-11-30"
    moves = {m["borrower_id"]: (m["channel"], m["queue"], m["rule"], m["previous_channel"]) for m in overview["moves"]}
    assert moves == {"B001": ("agent", "senior", "senior_agent", None), "B002": ("bot", None, "bot_by_segment", None)}
    assert overview["moves"][0]["actor"].startswith("import:token:")
    assert conforms(h.call("POST", "/api/allocation/run", token=TOKEN), "AllocationRunReport")["moves"] == []
    with api_stack.app.store.transaction() as db:
        db.execute("INSERT INTO borrower_facts (borrower_id, kind, state, campaign_id, detail, created_at)"
                   " VALUES ('B002', 'complaint', 'open', ?, '{}', 0)", (cid,))
    report = conforms(h.call("POST", "/api/allocation/run", token=TOKEN), "AllocationRunReport")
    assert report["cases"] == 2 and report["counts"] == {"bot": 0, "agent": 2, "legal": 0, "hold": 0}
    assert [(m["borrower_id"], m["previous_channel"], m["channel"], m["queue"], m["rule"]) for m in report["moves"]] \
        == [("B002", "bot", "agent", "complaints", "review_open")]
    assert report["moves"][0]["actor"].startswith("token:")
    assert len(conforms(h.call("GET", "/api/allocation", token=TOKEN), "AllocationOverview")["moves"]) == 3
    assert [e["action"] for e in api_stack.app.store.audit_log()].count("allocate") == 3
    assert h.call("GET", "/api/allocation").status == 401


def _legal_case(api_stack: ApiStack) -> None:
    """B001 is 121 days past due with two promises the ledger decided broken; an allocation run puts it in legal."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "l"}).json()["id"]
    rows = [borrower_row(1, due_date="2026-08-01", overdue_days=121), borrower_row(2)]
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN, json_body={"rows": rows}).status == 200
    with api_stack.app.store.transaction() as db:
        for i in range(2):
            db.execute("INSERT INTO promises (id, borrower_id, campaign_id, promised_date, amount, confirmed, state,"
                       " created_at, updated_at) VALUES (?, 'B001', ?, '2026-10-01', 100, 1, 'broken', 0, 0)",
                       (f"p{i}", cid))
    assert h.call("POST", "/api/allocation/run", token=TOKEN).json()["counts"]["legal"] == 1


def test_legal_steps_timeline_matches_openapi(api_stack: ApiStack) -> None:
    """Steps are appended to a legal case (mediation kind defaults to the file's), listed by GET /api/legal,
    audit-logged; bad fields are 400 and store nothing; a bot case or a closed timeline is 409; unknown is 404."""
    h = api_stack.http
    _legal_case(api_stack)
    first = conforms(h.call("POST", "/api/legal/B001/steps", token=TOKEN, json_body={
        "step": "mediation", "date": "2026-11-30", "actor": "mediation centre"}), "LegalStep")
    assert (first["step"], first["kind"], first["date"]) == ("mediation", "self", "2026-11-30")
    for bad, field in (({"step": "court"}, "step"), ({"kind": "bogus"}, "kind"), ({"date": "30/11"}, "date"),
                       ({"actor": ""}, "actor"), ({"colour": 1}, "colour")):
        body = {"step": "mediation", "date": "2026-12-01", "actor": "m", **bad}
        r = h.call("POST", "/api/legal/B001/steps", token=TOKEN, json_body=body)
        assert r.status == 400 and conforms(r, "Error")["error"].startswith(field), (field, r.json())
    closed = {"step": "closed", "kind": "settled", "date": "2026-12-05", "actor": "mediation centre", "note": "ok"}
    assert h.call("POST", "/api/legal/B001/steps", token=TOKEN, json_body=closed).status == 201
    cases = conforms(h.call("GET", "/api/legal", token=TOKEN), "LegalCaseList")["cases"]
    assert [(c["borrower_id"], c["current_step"], c["closed"], len(c["steps"])) for c in cases] == [
        ("B001", "closed", True, 2)]
    again = h.call("POST", "/api/legal/B001/steps", token=TOKEN, json_body={**closed, "kind": "paid"})
    assert again.status == 409 and "closed" in again.json()["error"]
    bot = h.call("POST", "/api/legal/B002/steps", token=TOKEN, json_body={**closed})
    assert bot.status == 409 and "not allocated to legal (bot)" in bot.json()["error"]
    assert h.call("POST", "/api/legal/B404/steps", token=TOKEN, json_body=closed).status == 404
    assert [e["action"] for e in api_stack.app.store.audit_log()].count("legal_step") == 2


def test_evidence_package_over_http_verifies(api_stack: ApiStack, tmp_path: Path) -> None:
    """GET /api/evidence/B001 returns a ZIP holding B001's call whose hashes verify, names its manifest hash in
    a header and the audit log; an unknown borrower is 404."""
    h = api_stack.http
    cid = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "e"}).json()["id"]
    assert h.call("POST", f"/api/campaigns/{cid}/borrowers", token=TOKEN,
                  json_body={"rows": [borrower_row(1)]}).status == 200
    assert h.call("POST", f"/api/campaigns/{cid}/start", token=TOKEN).status == 200
    run_for(api_stack.clock, 60)
    (call_id,) = [r[0] for r in api_stack.app.store.connection.execute("SELECT call_id FROM calls")]
    r = h.call("GET", "/api/evidence/B001", token=TOKEN)
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    path = tmp_path / "B001.zip"
    path.write_bytes(r.body)
    digest = {k.lower(): v for k, v in r.headers.items()}["x-manifest-sha256"]
    result = verify_package(path, digest)
    assert result.ok, result.problems
    with zipfile.ZipFile(path) as z:
        assert f"calls/{call_id}.json" in z.namelist()
    (entry,) = [e for e in api_stack.app.store.audit_log() if e["action"] == "evidence"]
    assert json.loads(entry["detail"])["manifest_sha256"] == digest
    missing = h.call("GET", "/api/evidence/B404", token=TOKEN)
    assert missing.status == 404 and "no borrower" in missing.json()["error"]


def test_resolving_a_complaint_reallocates_at_once(api_stack: ApiStack) -> None:
    """A complaint puts B001 in the complaints queue at the next run; resolving it moves B001 back to the bot
    (previous channel agent) in the same request, and a new campaign dials the borrower again."""
    h = api_stack.http
    cid = _campaign_with(api_stack, {"disposition": "complaint", "complaint": True})
    assert h.call("POST", "/api/allocation/run", token=TOKEN).json()["counts"]["agent"] == 1
    rid = h.call("GET", "/api/review", token=TOKEN).json()["items"][0]["id"]
    api_stack.runner.outcome = lambda b: {"disposition": "refused"}
    ok = h.call("POST", f"/api/review/{rid}/resolve", token=TOKEN, json_body={"resolution": "done", "resume": True})
    assert ok.status == 200
    assert api_stack.app.store.allocated_channel("B001") == ("bot", "bot_by_segment")
    moves = conforms(h.call("GET", "/api/allocation", token=TOKEN), "AllocationOverview")["moves"]
    assert (moves[-1]["previous_channel"], moves[-1]["channel"]) == ("agent", "bot")
    assert moves[-1]["actor"].startswith("review:token:")
    assert api_stack.app.store.get_campaign(cid).state == "finished"  # A had no one left to call
    other = h.call("POST", "/api/campaigns", token=TOKEN, json_body={"name": "again"}).json()["id"]
    assert h.call("POST", f"/api/campaigns/{other}/borrowers", token=TOKEN,
                  json_body={"rows": [borrower_row(1)]}).status == 200
    assert h.call("POST", f"/api/campaigns/{other}/start", token=TOKEN).status == 200
    run_for(api_stack.clock, 60)
    assert len(api_stack.placer.dials) == 2 and api_stack.app.store.refusals(other) == []

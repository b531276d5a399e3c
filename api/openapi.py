"""The OpenAPI 3.1 description served at `/openapi.json`; tests validate real responses against it."""

from __future__ import annotations

from typing import Any

_NUM = {"type": "number"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_NNUM = {"type": ["number", "null"]}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": _STR, "rule": _STR},
    },
    "Campaign": {
        "type": "object",
        "required": ["id", "name", "state", "timezone", "max_concurrent_calls", "calls_per_second", "created_at"],
        "properties": {
            "id": _STR, "name": _STR,
            "state": {"enum": ["draft", "scheduled", "running", "paused", "finished"]},
            "strategy": _NSTR, "timezone": _STR, "trunk": _NSTR, "caller_id": _STR,
            "max_concurrent_calls": _INT, "calls_per_second": _NUM, "created_at": _NUM,
            "start_at": _NNUM, "started_at": _NNUM, "finished_at": _NNUM,
        },
    },
    "CampaignList": {
        "type": "object", "required": ["campaigns"],
        "properties": {"campaigns": {"type": "array", "items": {"$ref": "#/components/schemas/Campaign"}}},
    },
    "NewCampaign": {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200}, "strategy": _STR, "timezone": _STR,
            "trunk": _STR, "caller_id": _STR,
            "max_concurrent_calls": {"type": "integer", "minimum": 1, "maximum": 1000},
            "calls_per_second": {"type": "number", "exclusiveMinimum": 0, "maximum": 200},
        },
    },
    "ImportReport": {
        "type": "object", "required": ["total_rows", "inserted", "merged", "unchanged", "duplicates", "errors"],
        "properties": {
            "total_rows": _INT, "inserted": _INT, "merged": _INT, "unchanged": _INT, "duplicates": _INT,
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["line", "reason"], "properties": {"line": _INT, "reason": _STR}}},
            "warnings": {"type": "array", "items": _STR,
                         "description": "imported anyway, e.g. numbers in other time zones than the campaign's"},
        },
    },
    "BorrowerPage": {
        "type": "object", "required": ["total", "limit", "offset", "borrowers"],
        "properties": {"total": _INT, "limit": _INT, "offset": _INT, "borrowers": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["borrower_id", "status", "next_due_at", "attempts_total", "phones"],
            "properties": {
                "borrower_id": _STR, "status": {"enum": ["active", "review", "stopped", "exhausted"]},
                "stop_reason": _NSTR, "next_due_at": _NNUM, "next_reason": _STR, "attempts_total": _INT,
                "segment": _NSTR, "strategy": _NSTR,
                "timezone": {"type": ["string", "null"], "description": "null: taken from the number (C1)"},
                "phones": {"type": "array", "items": {
                    "type": "object", "required": ["phone", "valid"],
                    "properties": {"phone": {"type": "string", "description": "masked (COMPLIANCE C11)"},
                                   "valid": {"type": "boolean"}}}},
            }}}},
    },
    "Progress": {
        "type": "object",
        "required": ["campaign", "borrowers", "borrowers_by_status", "attempts", "attempts_pending", "dispositions",
                     "outcomes", "promises", "promised_amount", "refusals_by_rule", "calls_in_flight",
                     "attempts_left_today"],
        "properties": {
            "campaign": {"$ref": "#/components/schemas/Campaign"}, "borrowers": _INT,
            "borrowers_by_status": _COUNTS, "attempts": _INT, "attempts_pending": _INT, "dispositions": _COUNTS,
            "outcomes": _COUNTS, "promises": _INT, "promised_amount": _NUM, "refusals_by_rule": _COUNTS,
            "calls_in_flight": _INT, "attempts_left_today": _INT,
        },
    },
    "CallSummary": {
        "type": "object", "required": ["call_id", "borrower_id", "phone", "disposition", "invite_sent_at"],
        "properties": {
            "call_id": _STR, "attempt_id": _STR, "borrower_id": _STR,
            "phone": {"type": "string", "description": "masked (COMPLIANCE C11)"},
            "disposition": _STR, "outcome": _NSTR, "sip_code": {"type": ["integer", "null"]},
            "invite_sent_at": _NUM, "answered_at": _NNUM, "ended_at": _NNUM, "duration_s": _NUM,
            "has_recording": {"type": "boolean"},
        },
    },
    "CallList": {
        "type": "object", "required": ["calls"],
        "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/CallSummary"}}},
    },
    "CallDetail": {
        "allOf": [{"$ref": "#/components/schemas/CallSummary"}, {
            "type": "object", "required": ["turns", "record"],
            "properties": {
                "turns": {"type": "array", "items": {"type": "object", "required": ["index", "heard_text", "node"]}},
                "record": {"type": "object"},
            },
        }],
    },
    "DialRequested": {
        "type": "object", "required": ["dialing"],
        "properties": {"dialing": {"const": True}, "attempt_id": _STR, "phone": _STR},
    },
    "LiveCalls": {
        "type": "object", "required": ["calls_in_flight", "calls"],
        "properties": {
            "calls_in_flight": _INT, "by_state": _COUNTS,
            "lines": {"type": "object", "required": ["in_use", "total"], "properties": {
                "in_use": _INT, "total": {"type": ["integer", "null"],
                                          "description": "the SIP endpoint's call slots; null if unknown"}}},
            "calls": {"type": "array", "items": {
                "type": "object", "required": ["attempt_id", "campaign_id", "borrower_id", "phone", "started_at"],
                "properties": {"attempt_id": _STR, "campaign_id": _STR, "borrower_id": _STR, "phone": _STR,
                               "started_at": _NUM, "reason": _STR, "state": {"enum": ["dialing", "talking"]},
                               "state_since": _NUM}}}},
    },
    "Overview": {
        "type": "object",
        "required": ["attempts_finished", "answered", "borrowers_dialled", "borrowers_reached", "answer_rate",
                     "contact_rate", "promises", "callbacks", "actions"],
        "properties": {
            "attempts_finished": _INT, "answered": _INT, "borrowers_dialled": _INT, "borrowers_reached": _INT,
            "answer_rate": {"type": ["number", "null"], "description": "answered / finished attempts"},
            "contact_rate": {"type": ["number", "null"],
                             "description": "borrowers reached in person / borrowers dialled"},
            "promises": {"type": "array", "items": {
                "type": "object", "required": ["call_id", "borrower_id", "ptp_date", "ptp_amount", "created_at"],
                "properties": {"call_id": _STR, "borrower_id": _STR, "ptp_date": _NSTR, "ptp_amount": _NNUM,
                               "created_at": _NUM}}},
            "callbacks": {"type": "array", "items": {
                "type": "object", "required": ["borrower_id", "due_at", "requested"],
                "properties": {"borrower_id": _STR, "due_at": _NNUM, "timezone": _NSTR, "requested": _NSTR}}},
            "actions": {"type": "array", "items": {"enum": ["start", "pause", "resume", "stop"]},
                        "description": "state changes allowed now"},
        },
    },
    "Workers": {
        "type": "object", "required": ["mode", "workers", "workers_up", "call_slots", "call_slots_in_use"],
        "properties": {
            "mode": {"enum": ["workers", "single_process"]}, "workers_up": _INT, "call_slots": _INT,
            "call_slots_in_use": _INT,
            "workers": {"type": "array", "items": {
                "type": "object",
                "required": ["index", "pid", "sip_port", "slots", "in_use", "calls_done", "restarts", "state"],
                "properties": {"index": _INT, "pid": {"type": ["integer", "null"]},
                               "sip_port": {"type": ["integer", "null"]}, "slots": _INT, "in_use": _INT,
                               "calls_done": _INT, "restarts": _INT,
                               "state": {"enum": ["starting", "up", "draining", "backoff", "stopped"]}}}}},
    },
}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _ok(ref: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, **_json(ref)}


_ERRORS = {
    "400": {"description": "invalid request (the reason says which field)", **_json("Error")},
    "401": {"description": "missing or wrong bearer token", **_json("Error")},
    "404": {"description": "unknown campaign, borrower or call", **_json("Error")},
    "429": {"description": "too many wrong tokens from this address ([http] auth_failures_per_minute); "
                           "see Retry-After", **_json("Error")},
}
_CID = {"name": "campaign_id", "in": "path", "required": True, "schema": _STR,
        "description": "percent-encoded in the URL (any UTF-8 text)"}


def _action(verb: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if verb == "start":
        extra["requestBody"] = {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"start_at": {
                "type": "number", "description": "unix time: the campaign waits in 'scheduled' until then"}}}}}}
    return {"post": {
        **extra,
        "summary": f"{verb.capitalize()} the campaign", "parameters": [_CID],
        "responses": {"200": _ok("Campaign"), "409": {"description": "not allowed in the current state",
                                                      **_json("Error")}, **_ERRORS},
    }}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Collections voice-bot campaign API", "version": "1.0.0",
             "description": "Bearer-token auth on every /api path. Phone numbers in responses are masked."},
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/campaigns": {
            "get": {"summary": "List campaigns", "responses": {"200": _ok("CampaignList"), **_ERRORS}},
            "post": {"summary": "Create a campaign", "requestBody": {"required": True, **_json("NewCampaign")},
                     "responses": {"201": _ok("Campaign", "created"), **_ERRORS}},
        },
        "/api/campaigns/{campaign_id}": {
            "get": {"summary": "One campaign", "parameters": [_CID],
                    "responses": {"200": _ok("Campaign"), **_ERRORS}},
        },
        "/api/campaigns/{campaign_id}/borrowers": {
            "post": {
                "summary": "Upload borrowers (CSV in UTF-8 or GBK with a header row, JSON lines, or JSON "
                           "{\"rows\": [...]}); bad rows are reported by line, good rows are imported",
                "parameters": [_CID, {"name": "filename", "in": "query", "schema": _STR}],
                "requestBody": {"required": True, "content": {
                    "text/csv": {"schema": _STR}, "application/x-ndjson": {"schema": _STR},
                    "application/json": {"schema": {"type": "object", "required": ["rows"],
                                                    "properties": {"rows": {"type": "array"}}}}}},
                "responses": {"200": _ok("ImportReport"), "413": {"description": "body too large", **_json("Error")},
                              "409": {"description": "the campaign is finished", **_json("Error")}, **_ERRORS},
            },
            "get": {
                "summary": "Borrowers with status and next call, by id, paged; numbers masked",
                "parameters": [
                    _CID, {"name": "status", "in": "query",
                           "schema": {"type": "string", "enum": ["active", "review", "stopped", "exhausted"]}},
                    {"name": "q", "in": "query", "schema": _STR, "description": "borrower ids containing this"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": _ok("BorrowerPage"), **_ERRORS},
            },
        },
        "/api/campaigns/{campaign_id}/start": _action("start"),
        "/api/campaigns/{campaign_id}/pause": _action("pause"),
        "/api/campaigns/{campaign_id}/resume": _action("resume"),
        "/api/campaigns/{campaign_id}/stop": _action("stop"),
        "/api/campaigns/{campaign_id}/progress": {
            "get": {"summary": "Counts by disposition and outcome, promised amounts, attempts left, calls in flight",
                    "parameters": [_CID], "responses": {"200": _ok("Progress"), **_ERRORS}},
        },
        "/api/campaigns/{campaign_id}/calls": {
            "get": {"summary": "Calls with outcomes, newest first", "parameters": [
                _CID, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": _ok("CallList"), **_ERRORS}},
        },
        "/api/campaigns/{campaign_id}/overview": {
            "get": {"summary": "Answer and contact rates, promises (dates, amounts), callback queue, allowed actions",
                    "parameters": [_CID], "responses": {"200": _ok("Overview"), **_ERRORS}},
        },
        "/api/campaigns/{campaign_id}/borrowers/{borrower_id}/call": {
            "post": {"summary": "Call now (still subject to COMPLIANCE C1-C3, C7)", "parameters": [
                _CID, {"name": "borrower_id", "in": "path", "required": True, "schema": _STR}],
                "responses": {"202": _ok("DialRequested", "dialling"),
                              "409": {"description": "refused; `rule` names the compliance rule", **_json("Error")},
                              **_ERRORS}},
        },
        "/api/calls/{call_id}": {
            "get": {"summary": "A call with its transcript", "parameters": [
                {"name": "call_id", "in": "path", "required": True, "schema": _STR}],
                "responses": {"200": _ok("CallDetail"), **_ERRORS}},
        },
        "/api/calls/{call_id}/recording": {
            "get": {"summary": "The call's stereo WAV recording", "parameters": [
                {"name": "call_id", "in": "path", "required": True, "schema": _STR}],
                "responses": {"200": {"description": "WAV audio", "content": {"audio/wav": {}}}, **_ERRORS}},
        },
        "/api/live": {
            "get": {"summary": "Calls in flight", "responses": {"200": _ok("LiveCalls"), **_ERRORS}},
        },
        "/api/workers": {
            "get": {"summary": "Call workers: pid, SIP port, slots, in use, calls done, restarts, state",
                    "responses": {"200": _ok("Workers"), **_ERRORS}},
        },
        "/metrics": {"get": {"summary": "Prometheus text format", "security": [],
                             "responses": {"200": {"description": "metrics", "content": {"text/plain": {}}}}}},
    },
}


# -- promises, payments and the review queue (docs/promises.md) -------------------------------------
_ROW_ERRORS = {"type": "array", "items": {
    "type": "object", "required": ["line", "reason"], "properties": {"line": _INT, "reason": _STR}}}
_IDS = {"type": "array", "items": _STR}
_PROMISE_COUNTS = {
    "type": "object", "required": ["captured", "pending", "kept", "partly_kept", "broken", "kept_rate"],
    "properties": {"captured": _INT, "pending": _INT, "kept": _INT, "partly_kept": _INT, "broken": _INT,
                   "promised_amount": _NUM, "kept_rate": _NNUM, "segment": _NSTR, "script_set": _NSTR},
}
SCHEMAS.update({
    "Promise": {
        "type": "object",
        "required": ["id", "borrower_id", "campaign_id", "promised_date", "amount", "confirmed", "state", "history"],
        "properties": {
            "id": _STR, "borrower_id": _STR, "campaign_id": _STR, "call_id": _NSTR, "promised_date": _STR,
            "amount": _NUM, "confirmed": {"type": "boolean"},
            "state": {"enum": ["pending", "kept", "partly_kept", "broken", "superseded"]},
            "paid_amount": _NUM, "segment": _NSTR, "script_set": _NSTR, "follow_up": _NSTR,
            "created_at": _NUM, "updated_at": _NUM,
            "history": {"type": "array", "items": {"type": "object", "required": ["at", "state"]}},
        },
    },
    "PromiseList": {
        "type": "object", "required": ["promises"],
        "properties": {"promises": {"type": "array", "items": {"$ref": "#/components/schemas/Promise"}}},
    },
    "PromiseSummary": {
        "type": "object", "required": ["total", "by_segment_and_script_set"],
        "properties": {"total": _PROMISE_COUNTS,
                       "by_segment_and_script_set": {"type": "array", "items": _PROMISE_COUNTS}},
    },
    "PaymentReport": {
        "type": "object", "required": ["total_rows", "inserted", "unchanged", "errors", "reconciled"],
        "properties": {
            "total_rows": _INT, "inserted": _INT, "unchanged": _INT, "errors": _ROW_ERRORS,
            "reconciled": {"type": "object", "properties": {
                "kept": _IDS, "partly_kept": _IDS, "broken": _IDS, "follow_ups": _IDS, "claims_verified": _IDS,
                "claims_resumed": _IDS}},
        },
    },
    "ReviewItem": {
        "type": "object", "required": ["id", "kind", "borrower_id", "state", "created_at"],
        "properties": {
            "id": _INT, "kind": {"enum": ["complaint", "dispute"]}, "borrower_id": _STR, "campaign_id": _NSTR,
            "call_id": _NSTR, "created_at": _NUM, "state": {"enum": ["open", "resolved"]}, "resolution": _NSTR,
            "resolved_at": _NNUM, "resolved_by": _NSTR, "borrowers_resumed": _INT,
        },
    },
    "ReviewList": {
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewItem"}}},
    },
    "ResolveReview": {
        "type": "object", "required": ["resolution"], "additionalProperties": False,
        "properties": {"resolution": {"type": "string", "minLength": 1, "maxLength": 2000},
                       "resume": {"type": "boolean", "description": "dial the borrower again once nothing is open"}},
    },
})
OPENAPI["paths"].update({
    "/api/payments": {
        "post": {
            "summary": "Import payments (borrower_id, amount, paid_at, reference) as CSV, JSON lines or "
                       "{\"rows\": [...]}; idempotent by reference; reconciles promises",
            "parameters": [{"name": "filename", "in": "query", "schema": _STR}],
            "requestBody": {"required": True, "content": {
                "text/csv": {"schema": _STR}, "application/x-ndjson": {"schema": _STR},
                "application/json": {"schema": {"type": "object", "required": ["rows"],
                                                "properties": {"rows": {"type": "array"}}}}}},
            "responses": {"200": _ok("PaymentReport"), **_ERRORS},
        },
    },
    "/api/promises": {
        "get": {"summary": "Promises with their history; `format=csv` exports them", "parameters": [
            {"name": "campaign", "in": "query", "schema": _STR},
            {"name": "state", "in": "query", "schema": {"enum": ["pending", "kept", "partly_kept", "broken",
                                                               "superseded"]}},
            {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}}],
            "responses": {"200": {"description": "OK", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PromiseList"}},
                "text/csv": {"schema": _STR}}}, **_ERRORS}},
    },
    "/api/promises/summary": {
        "get": {"summary": "Promises captured, pending, kept, broken and the kept rate by segment and script set",
                "parameters": [{"name": "campaign", "in": "query", "schema": _STR}],
                "responses": {"200": _ok("PromiseSummary"), **_ERRORS}},
    },
    "/api/review": {
        "get": {"summary": "Review queue: complaints and disputes (open by default)", "parameters": [
            {"name": "state", "in": "query", "schema": {"enum": ["open", "resolved"]}}],
            "responses": {"200": _ok("ReviewList"), **_ERRORS}},
    },
    "/api/review/{review_id}/resolve": {
        "post": {"summary": "Resolve a complaint or dispute (audit-logged)", "parameters": [
            {"name": "review_id", "in": "path", "required": True, "schema": _INT}],
            "requestBody": {"required": True, **_json("ResolveReview")},
            "responses": {"200": _ok("ReviewItem"), "409": {"description": "already resolved", **_json("Error")},
                          **_ERRORS}},
    },
})

# -- case allocation (issue 13; campaign.allocation_store) -----------------------------------------
_CHANNEL = {"enum": ["bot", "agent", "legal", "hold"]}
_MOVE = {
    "type": "object",
    "required": ["borrower_id", "at", "channel", "previous_channel", "queue", "step", "rule", "actor"],
    "properties": {"borrower_id": _STR, "at": _NUM, "channel": _CHANNEL,
                   "previous_channel": {"enum": ["bot", "agent", "legal", "hold", None]},
                   "queue": _NSTR, "step": _NSTR, "rule": _STR, "actor": _STR},
}
_CHANNEL_COUNTS = {"type": "object", "required": ["bot", "agent", "legal", "hold"],
                   "properties": {c: _INT for c in ("bot", "agent", "legal", "hold")}}
SCHEMAS.update({
    "AllocationMove": _MOVE,
    "AllocationOverview": {
        "type": "object", "required": ["today", "counts", "moves"],
        "properties": {"today": _STR, "counts": _CHANNEL_COUNTS,
                       "moves": {"type": "array", "items": {"$ref": "#/components/schemas/AllocationMove"}}},
    },
    "AllocationRunReport": {
        "type": "object", "required": ["today", "cases", "counts", "moves"],
        "properties": {"today": _STR, "cases": _INT, "counts": _CHANNEL_COUNTS,
                       "moves": {"type": "array", "items": {"$ref": "#/components/schemas/AllocationMove"}}},
    },
})
OPENAPI["paths"].update({
    "/api/allocation": {
        "get": {"summary": "Cases per channel (bot, agent, legal, hold) and today's moves with time, rule and "
                           "previous channel", "responses": {"200": _ok("AllocationOverview"), **_ERRORS}},
    },
    "/api/allocation/run": {
        "post": {"summary": "Allocate every borrower now (config/allocation.toml); moves are stored and "
                            "audit-logged; a case moved away from bot is no longer dialled",
                 "responses": {"200": _ok("AllocationRunReport"), **_ERRORS}},
    },
})

# -- legal track timeline (issue 13; campaign.legal) ------------------------------------------------
_LEGAL_STEP = {"enum": ["mediation", "litigation", "filing", "enforcement", "closed"]}
_STEP_KIND = {"enum": ["people", "litigation", "arbitration", "delegated", "entrusted", "self", "settled", "paid",
                       "withdrawn", None]}
SCHEMAS.update({
    "NewLegalStep": {
        "type": "object", "required": ["step", "date", "actor"], "additionalProperties": False,
        "properties": {"step": _LEGAL_STEP, "kind": _STEP_KIND, "date": {"type": "string", "format": "date"},
                       "actor": {"type": "string", "minLength": 1, "maxLength": 200},
                       "note": {"type": "string", "maxLength": 4000}},
        "description": "kind: the mediation kind (default from config/allocation.toml) or, for closed, "
                       "settled | paid | withdrawn",
    },
    "LegalStep": {
        "type": "object", "required": ["id", "step", "kind", "date", "actor", "note", "recorded_by", "created_at"],
        "properties": {"borrower_id": _STR, "id": _INT, "step": _LEGAL_STEP, "kind": _STEP_KIND, "date": _STR,
                       "actor": _STR, "note": _STR, "recorded_by": _STR, "created_at": _NUM},
    },
    "LegalCaseList": {
        "type": "object", "required": ["cases"],
        "properties": {"cases": {"type": "array", "items": {
            "type": "object",
            "required": ["borrower_id", "channel", "rule", "mediation_kind", "allocated_at", "current_step", "closed",
                         "steps"],
            "properties": {"borrower_id": _STR, "channel": {"enum": ["bot", "agent", "legal", "hold", None]},
                           "rule": _NSTR, "mediation_kind": _NSTR, "allocated_at": _NNUM,
                           "current_step": {"enum": ["mediation", "litigation", "filing", "enforcement", "closed",
                                                     None]},
                           "closed": {"type": "boolean"},
                           "steps": {"type": "array", "items": {"$ref": "#/components/schemas/LegalStep"}}}}}},
    },
})
OPENAPI["paths"].update({
    "/api/legal": {
        "get": {"summary": "Cases allocated to legal (or with a timeline) and their steps",
                "responses": {"200": _ok("LegalCaseList"), **_ERRORS}},
    },
    "/api/legal/{borrower_id}/steps": {
        "post": {"summary": "Append a dated step to a legal case's timeline (audit-logged)", "parameters": [
            {"name": "borrower_id", "in": "path", "required": True, "schema": _STR}],
            "requestBody": {"required": True, **_json("NewLegalStep")},
            "responses": {"201": _ok("LegalStep", "created"),
                          "409": {"description": "the case is not in legal, or its timeline is closed",
                                  **_json("Error")}, **_ERRORS}},
    },
})
OPENAPI["paths"].update({
    "/api/evidence/{borrower_id}": {
        "get": {"summary": "Evidence package of one borrower (ZIP: manifest.json with SHA-256 per file, "
                           "manifest.sha256; header X-Manifest-SHA256); audit-logged",
                "parameters": [{"name": "borrower_id", "in": "path", "required": True, "schema": _STR}],
                "responses": {"200": {"description": "the package", "content": {
                    "application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}}},
                    **_ERRORS}},
    },
})

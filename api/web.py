"""One twisted.web server: the JSON API, the dashboard, `/metrics` and `/openapi.json`.

Why a hand-rolled router on a leaf resource: the API is small, every route needs the same auth,
size limit and error mapping, and keeping it in one table makes the OpenAPI document easy to check
against. Bodies are counted while they arrive (`LimitedRequest`) so an oversized upload is refused
without being buffered.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web import server, static
from twisted.web.resource import Resource

from api.auth import AuthFailureBrake, MonotonicClock, configured_digests, token_matches
from api.openapi import OPENAPI
from campaign.allocation_store import AllocationRun
from campaign.evidence import EvidenceError, package_from_reader, record_package
from campaign.importer import ImportFormatError, PreparedImport, RawRow
from campaign.ledger import PromiseLedger, ReviewStateError
from campaign.legal import LegalStateError, UnknownCaseError, add_step, legal_cases
from campaign.model import BORROWER_ACTIVE, BORROWER_EXHAUSTED, BORROWER_REVIEW, BORROWER_STOPPED, Refusal
from campaign.scheduler import DialStarted
from campaign.service import CampaignService, CampaignStateError
from campaign.store import CampaignStore, NotFoundError
from campaign.store_thread import StoreThread
from config.campaign_config import HttpSettings
from telemetry.logging import log_event
from telemetry.mask import mask_phone
from telemetry.metrics import Registry

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
# The dashboard's files, served by name only (never a path built from the request).
STATIC_PAGES = {
    "/dashboard.html": "text/html; charset=utf-8",
    "/dashboard.css": "text/css; charset=utf-8",
    **{f"/{name}.js": "text/javascript; charset=utf-8"
       for name in ("api_client", "dashboard", "promises", "allocation")},
}
# Sent with every response: the dashboard loads only its own script and styles, talks only to this
# origin, plays recordings from blob: URLs, and may not be framed (clickjacking of Start/Stop).
SECURITY_HEADERS: dict[bytes, bytes] = {
    b"Content-Security-Policy": b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               b"img-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'self'; "
                               b"frame-ancestors 'none'",
    b"X-Frame-Options": b"DENY",
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.rule = rule


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # JSON-able, or bytes with content_type
    content_type: str = "application/json"


class LimitedRequest(server.Request):
    """Stops buffering once a body passes the limit; the resource then answers 413."""

    max_body_bytes = 20 * 1024 * 1024

    def gotLength(self, length: int | None) -> None:
        self.body_too_large = length is not None and length > self.max_body_bytes
        self._body_seen = 0
        super().gotLength(0 if self.body_too_large else length)

    def handleContentChunk(self, data: bytes) -> None:
        self._body_seen = getattr(self, "_body_seen", 0) + len(data)
        if self._body_seen > self.max_body_bytes:
            self.body_too_large = True
        if not getattr(self, "body_too_large", False):
            super().handleContentChunk(data)


Route = tuple[str, re.Pattern[str], Callable[..., Reply | Deferred[Reply]]]


class CampaignApi(Resource):
    isLeaf = True

    def __init__(
        self, service: CampaignService, settings: HttpSettings, metrics: Registry, recording_dir: Path | None = None,
        reactor: Any = None, allocation: AllocationRun | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.allocation = allocation
        self.reactor = reactor  # serves HTTP and takes results back from the store thread; None: jobs inline
        self.settings = settings
        self.metrics = metrics
        self.recording_dir = recording_dir.resolve() if recording_dir is not None else None
        self._tokens = configured_digests(settings.tokens)
        self._brake = AuthFailureBrake(settings.auth_failures_per_minute,
                                       reactor if hasattr(reactor, "seconds") else MonotonicClock())
        self.routes: list[Route] = [
            ("GET", re.compile(r"/api/campaigns"), self.list_campaigns),
            ("POST", re.compile(r"/api/campaigns"), self.create_campaign),
            ("GET", re.compile(r"/api/campaigns/(?P<cid>[^/]+)"), self.get_campaign),
            ("POST", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/borrowers"), self.upload_borrowers),
            ("GET", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/borrowers"), self.list_borrowers),
            ("POST", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/(?P<action>start|pause|resume|stop)"), self.act),
            ("GET", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/progress"), self.progress),
            ("GET", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/calls"), self.list_calls),
            ("GET", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/overview"), self.overview),
            ("POST", re.compile(r"/api/campaigns/(?P<cid>[^/]+)/borrowers/(?P<bid>[^/]+)/call"), self.call_now),
            ("GET", re.compile(r"/api/calls/(?P<call_id>[^/]+)"), self.get_call),
            ("GET", re.compile(r"/api/calls/(?P<call_id>[^/]+)/recording"), self.recording),
            ("GET", re.compile(r"/api/live"), self.live),
            ("POST", re.compile(r"/api/payments"), self.import_payments),
            ("GET", re.compile(r"/api/promises"), self.list_promises),
            ("GET", re.compile(r"/api/promises/summary"), self.promise_summary),
            ("GET", re.compile(r"/api/review"), self.review_queue),
            ("POST", re.compile(r"/api/review/(?P<rid>[^/]+)/resolve"), self.resolve_review),
            ("GET", re.compile(r"/api/workers"), self.list_workers),
            ("GET", re.compile(r"/api/allocation"), self.allocation_overview),
            ("POST", re.compile(r"/api/allocation/run"), self.allocation_run),
            ("GET", re.compile(r"/api/legal"), self.legal_cases),
            ("GET", re.compile(r"/api/evidence/(?P<bid>[^/]+)"), self.evidence),
            ("POST", re.compile(r"/api/legal/(?P<bid>[^/]+)/steps"), self.add_legal_step),
        ]
        self.call_workers: Any = None  # workers.pool.WorkerPool when serve runs its calls in call workers

    # -- plumbing -------------------------------------------------------------------------------
    @functools.cached_property
    def jobs(self) -> StoreThread:
        """Imports and evidence packages: validated and written on a thread with a store connection of its own."""
        return StoreThread(self.service.store, self.reactor, name="api-store-jobs")

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.close()

    def _import_borrowers(self, cid: str, prepared: PreparedImport, actor: str, source: str) -> Deferred[Reply]:
        """The write, the audit line and the allocation of the new rows on the store thread; the
        campaign dials none of its borrowers meanwhile (Scheduler.hold)."""
        scheduler = self.service.scheduler
        scheduler.hold(cid)

        def released(result: Any) -> Any:
            scheduler.release(cid)
            return result

        written = self.jobs.run(lambda store: self.service.import_prepared(cid, prepared, actor, source, store=store))
        return written.addBoth(released).addCallback(lambda report: Reply(200, report.to_dict()))

    @staticmethod
    def _error_reply(exc: BaseException, path: str) -> Reply:
        if isinstance(exc, ApiError):
            body: dict[str, Any] = {"error": exc.message}
            if exc.rule:
                body["rule"] = exc.rule
            return Reply(exc.status, body)
        if isinstance(exc, NotFoundError):
            return Reply(404, {"error": str(exc)})
        if isinstance(exc, CampaignStateError | ReviewStateError):
            return Reply(409, {"error": str(exc)})
        if isinstance(exc, ValueError | ImportFormatError):
            return Reply(400, {"error": str(exc)})
        log_event(log, "api.error", logging.ERROR, path=path, error=repr(exc))
        return Reply(500, {"error": "internal error; see the server log"})

    def render(self, request: server.Request) -> bytes | int:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        method = request.method.decode()
        path = urlsplit(request.uri.decode("utf-8", "replace")).path.rstrip("/") or "/"
        try:
            reply = self._dispatch(request, method, path)
        except Exception as exc:
            reply = self._error_reply(exc, path)
        if isinstance(reply, Deferred):

            def failed(failure: Failure) -> Reply:
                return self._error_reply(failure.value or RuntimeError("unknown failure"), path)

            handled: Deferred[Reply] = reply.addErrback(failed)
            handled.addCallback(self._finish_later, request)
            return server.NOT_DONE_YET
        return self._write(reply, request)

    def _finish_later(self, reply: Reply, request: server.Request) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            return
        request.write(self._write(reply, request))
        request.finish()

    def _write(self, reply: Reply, request: server.Request) -> bytes | int:
        if isinstance(reply.body, static.File):
            return reply.body.render(request)
        request.setResponseCode(reply.status)
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"Content-Type", reply.content_type.encode())
        if isinstance(reply.body, bytes):
            return reply.body
        return json.dumps(reply.body, ensure_ascii=False).encode()

    def _dispatch(self, request: server.Request, method: str, path: str) -> Reply | Deferred[Reply]:
        page = "/dashboard.html" if path in ("/", "/dashboard") else path
        if page in STATIC_PAGES:
            return Reply(200, (STATIC_DIR / page[1:]).read_bytes(), STATIC_PAGES[page])
        if path == "/openapi.json":
            return Reply(200, OPENAPI)
        if path == "/metrics":
            if method != "GET":
                raise ApiError(405, "use GET")
            if self.settings.metrics_require_token:
                self._authorize(request)
            return Reply(200, self.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8")
        if not path.startswith("/api/"):
            raise ApiError(404, f"no such page {path}")
        self._authorize(request)
        if getattr(request, "body_too_large", False):
            raise ApiError(413, f"request body larger than {self.settings.max_body_bytes} bytes")
        allowed: list[str] = []
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            return handler(request, **_decoded(match.groupdict()))
        if allowed:
            raise ApiError(405, f"use {' or '.join(sorted(set(allowed)))}")
        raise ApiError(404, f"no such API path {path}")

    def _authorize(self, request: server.Request) -> None:
        """A valid token always passes; wrong ones are counted per address and slowed past the limit."""
        header = (request.getHeader("authorization") or "").strip()
        scheme, _, token = header.partition(" ")
        supplied = token.strip().encode()
        if scheme.lower() == "bearer" and token_matches(supplied, self._tokens):
            return
        if supplied:
            address = _client_address(request)
            throttled = self._brake.check(address)
            if throttled is not None:
                request.setHeader(b"Retry-After", str(throttled.retry_after_s).encode())
                raise ApiError(429, f"too many wrong tokens from this address; retry after {throttled.retry_after_s} s")
            self._brake.record_failure(address)
            if self._brake.check(address) is not None:
                log_event(log, "api.auth_throttled", logging.WARNING, address=address,
                          failures_per_minute=self.settings.auth_failures_per_minute)
        request.setHeader(b"WWW-Authenticate", b'Bearer realm="voicebot"')
        raise ApiError(401, "missing or wrong bearer token")

    def _actor(self, request: server.Request) -> str:
        token = (request.getHeader("authorization") or "").partition(" ")[2].strip()
        return f"token:{token[:4]}…" if token else "anonymous"

    @staticmethod
    def _json_body(request: server.Request) -> Any:
        assert request.content is not None
        raw = request.content.read()
        try:
            return json.loads(raw or b"null", parse_constant=_no_constant)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}") from None

    @staticmethod
    def _query(request: server.Request) -> dict[str, str]:
        parsed = parse_qs(urlsplit(request.uri.decode("utf-8", "replace")).query, keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    # -- handlers -------------------------------------------------------------------------------
    def list_campaigns(self, request: server.Request) -> Reply:
        return Reply(200, {"campaigns": [c.to_dict() for c in self.service.list_campaigns()]})

    def create_campaign(self, request: server.Request) -> Reply:
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        known = set(OPENAPI["components"]["schemas"]["NewCampaign"]["properties"])
        unknown = sorted(set(body) - known)
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "name: a non-empty string is required")
        for key in ("strategy", "timezone", "trunk", "caller_id"):
            if key in body and not isinstance(body[key], str):
                raise ApiError(400, f"{key}: expected a string")
        for key in ("max_concurrent_calls",):
            if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)):
                raise ApiError(400, f"{key}: expected an integer")
        for key in ("calls_per_second", "start_at"):
            if key in body and (not isinstance(body[key], int | float) or isinstance(body[key], bool)):
                raise ApiError(400, f"{key}: expected a number")
        # Bounds checked here too: the service reads 0 as "use the default", which would accept a zero.
        if len(name) > 200:
            raise ApiError(400, "name: at most 200 characters")
        if "max_concurrent_calls" in body and not 1 <= body["max_concurrent_calls"] <= 1000:
            raise ApiError(400, "max_concurrent_calls: expected 1..1000")
        if "calls_per_second" in body and not 0 < body["calls_per_second"] <= 200:
            raise ApiError(400, "calls_per_second: expected more than 0 and at most 200")
        campaign = self.service.create_campaign(
            name, strategy=body.get("strategy"), timezone=body.get("timezone"), trunk=body.get("trunk"),
            caller_id=body.get("caller_id", ""), max_concurrent_calls=body.get("max_concurrent_calls"),
            calls_per_second=body.get("calls_per_second"), actor=self._actor(request),
        )
        return Reply(201, campaign.to_dict())

    def get_campaign(self, request: server.Request, cid: str) -> Reply:
        return Reply(200, self.service.store.get_campaign(cid).to_dict())

    def upload_borrowers(self, request: server.Request, cid: str) -> Deferred[Reply]:
        """Rows are validated, then written in one transaction, on the store thread: the reactor only routes."""
        assert request.content is not None
        kind = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        actor = self._actor(request)
        override = self.service.ensure_importable(cid).strategy  # 404 / 409 before any work
        importer = self.service.importer
        if kind == "application/json":
            body = self._json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
                raise ApiError(400, 'rows: expected {"rows": [borrower, ...]}')
            rows = body["rows"]
            name = "json-rows"
            prepared = self.jobs.call(lambda: importer.prepare_records(rows, override))
        else:
            name = self._query(request).get("filename") or ("upload.jsonl" if "ndjson" in kind or "jsonl" in kind
                                                           else "upload.csv")
            data = request.content.read()
            if not data:
                raise ApiError(400, "empty upload")
            prepared = self.jobs.call(lambda: importer.prepare_bytes(name, data, override))
        return prepared.addCallback(lambda p: self._import_borrowers(cid, p, actor, name))

    def list_borrowers(self, request: server.Request, cid: str) -> Reply:
        """A page of the campaign's borrowers with their status and next call; numbers masked (C11)."""
        q = self._query(request)
        limit, offset = _page(q)
        status = q.get("status")  # blank is refused like any other value outside the enum
        if status is not None and status not in BORROWER_STATUSES:
            raise ApiError(400, f"status: expected one of {', '.join(BORROWER_STATUSES)}")
        store = self.service.store
        store.get_campaign(cid)
        page, total = store.page_borrowers(cid, status=status, search=q.get("q") or None, limit=limit, offset=offset)
        return Reply(200, {"total": total, "limit": limit, "offset": offset, "borrowers": [{
            "borrower_id": b.borrower_id, "status": b.status, "stop_reason": b.stop_reason,
            "next_due_at": b.next_due_at, "next_reason": b.next_reason, "attempts_total": b.attempts_total,
            "segment": b.segment, "strategy": b.strategy, "timezone": b.timezone,
            "phones": [{"phone": mask_phone(c.phone), "valid": c.valid} for c in store.contacts(cid, b.borrower_id)],
        } for b in page]})

    def act(self, request: server.Request, cid: str, action: str) -> Reply:
        start_at = None
        if action == "start":
            body = self._json_body(request)
            if isinstance(body, dict) and body.get("start_at") is not None:
                if not isinstance(body["start_at"], int | float):
                    raise ApiError(400, "start_at: expected a unix time")
                start_at = float(body["start_at"])
        campaign = self.service.change_state(cid, action, actor=self._actor(request), start_at=start_at)
        return Reply(200, campaign.to_dict())

    def progress(self, request: server.Request, cid: str) -> Reply:
        return Reply(200, self.service.progress(cid).to_dict())

    def list_calls(self, request: server.Request, cid: str) -> Reply:
        q = self._query(request)
        limit, offset = _page(q)
        self.service.store.get_campaign(cid)
        return Reply(200, {"calls": [_summary(c) for c in self.service.store.list_calls(cid, limit, offset)]})

    def get_call(self, request: server.Request, call_id: str) -> Reply:
        call = self.service.store.get_call(call_id)
        detail = _summary(call)
        detail["turns"] = call["turns"]
        record = dict(call["record"])
        record.pop("recording", None)
        detail["record"] = record
        return Reply(200, detail)

    def recording(self, request: server.Request, call_id: str) -> Reply:
        call = self.service.store.get_call(call_id)
        if not call["recording"]:
            raise ApiError(404, f"call {call_id} has no recording")
        path = Path(call["recording"]).resolve()
        if self.recording_dir is not None and not path.is_relative_to(self.recording_dir):
            raise ApiError(404, "recording is outside the recording directory")
        if not path.is_file():
            raise ApiError(404, f"recording of call {call_id} is missing on disk")
        audio = static.File(str(path), defaultType="audio/wav")
        audio.contentTypes = {".wav": "audio/wav"}
        return Reply(200, audio)

    def call_now(self, request: server.Request, cid: str, bid: str) -> Reply:
        result = self.service.call_now(cid, bid, actor=self._actor(request))
        if isinstance(result, Refusal):
            raise ApiError(409, result.reason, rule=result.rule)
        assert isinstance(result, DialStarted)
        return Reply(202, {"dialing": True, "attempt_id": result.attempt_id, "phone": mask_phone(result.phone)})

    def live(self, request: server.Request) -> Reply:
        dialer = self.service.scheduler.dialer
        live = list(dialer.live.values())
        states = {a.attempt_id: dialer.live_states.get(a.attempt_id, ("dialing", a.started_at)) for a in live}
        by_state: dict[str, int] = {}
        for state, _since in states.values():
            by_state[state] = by_state.get(state, 0) + 1
        capacity = self.service.scheduler.pacer.capacity
        lines = ({"in_use": capacity.max_calls - capacity.free_call_slots, "total": capacity.max_calls}
                 if capacity is not None else {"in_use": len(live), "total": None})
        return Reply(200, {"calls_in_flight": len(live), "by_state": by_state, "lines": lines, "calls": [
            {"attempt_id": a.attempt_id, "campaign_id": a.campaign_id, "borrower_id": a.borrower_id,
             "phone": mask_phone(a.phone), "started_at": a.started_at, "reason": a.reason,
             "state": states[a.attempt_id][0], "state_since": states[a.attempt_id][1]} for a in live]})

    def overview(self, request: server.Request, cid: str) -> Reply:
        """What the dashboard shows beside the counts: rates, promises, callback queue, valid actions."""
        body = self.service.store.overview(cid)
        body["actions"] = self.service.allowed_actions(cid)
        return Reply(200, body)


    # -- promises, payments, review queue (campaign.ledger) --------------------------------------
    def _ledger(self) -> PromiseLedger:
        if self.service.ledger is None:
            raise ApiError(404, "promises are not offered by this server (no ledger configured)")
        return self.service.ledger

    def import_payments(self, request: server.Request) -> Deferred[Reply]:
        """Validated on the worker thread like a borrower upload; written and reconciled in one transaction."""
        assert request.content is not None
        ledger = self._ledger()
        kind = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        actor = self._actor(request)
        if kind == "application/json":
            body = self._json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
                raise ApiError(400, 'rows: expected {"rows": [payment, ...]}')
            rows = [RawRow(i, dict(r)) if isinstance(r, dict) else RawRow(i, {"(row)": r})
                    for i, r in enumerate(body["rows"], 1)]
            prepared = self.jobs.call(lambda: ledger.prepare(rows))
        else:
            name = self._query(request).get("filename") or ("payments.jsonl" if "ndjson" in kind or "jsonl" in kind
                                                           else "payments.csv")
            data = request.content.read()
            if not data:
                raise ApiError(400, "empty upload")
            prepared = self.jobs.call(lambda: ledger.prepare_bytes(name, data))

        def commit(store: CampaignStore, p: tuple[int, Any, Any]) -> Reply:  # on the store thread
            report = ledger.on(store).commit(*p, source=f"api:{actor}")
            store.audit(actor, "payments_import", None, {
                k: v for k, v in report.to_dict().items() if k != "errors"} | {"bad_rows": len(report.errors)},
                self.service.reactor.seconds())
            return Reply(200, report.to_dict())

        return prepared.addCallback(lambda p: self.jobs.run(lambda store: commit(store, p)))

    def list_promises(self, request: server.Request) -> Reply:
        q = self._query(request)
        ledger = self._ledger()
        campaign, state = q.get("campaign") or None, q.get("state") or None
        if q.get("format", "json") == "csv":
            return Reply(200, ledger.promises_csv(campaign, state), "text/csv; charset=utf-8")
        if q.get("format", "json") != "json":
            raise ApiError(400, "format: expected json or csv")
        return Reply(200, {"promises": ledger.list_promises(campaign, state)})

    def promise_summary(self, request: server.Request) -> Reply:
        campaign = self._query(request).get("campaign") or None
        if campaign is not None:
            self.service.store.get_campaign(campaign)
        return Reply(200, self._ledger().summary(campaign))

    def review_queue(self, request: server.Request) -> Reply:
        return Reply(200, {"items": self._ledger().review_queue(self._query(request).get("state", "open"))})

    def resolve_review(self, request: server.Request, rid: str) -> Reply:
        if not rid.isdigit():
            raise ApiError(404, f"no review item {rid}")
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        unknown = sorted(set(body) - {"resolution", "resume"})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown field (known: resolution, resume)")
        resolution = body.get("resolution")
        if not isinstance(resolution, str) or not resolution.strip():
            raise ApiError(400, "resolution: a non-empty string is required")
        resume = body.get("resume", False)
        if not isinstance(resume, bool):
            raise ApiError(400, "resume: expected true or false")
        resolved = self._ledger().resolve_review(int(rid), resolution, self._actor(request), resume)
        if self.allocation is not None:  # the case may leave the complaints queue now, not at the next daily run
            self.allocation.after_review(self._actor(request))
        return Reply(200, resolved)

    # -- case allocation (campaign.allocation_store, issue 13) ------------------------------------
    def _allocation(self) -> AllocationRun:
        if self.allocation is None:
            raise ApiError(404, "case allocation is not offered by this server")
        return self.allocation

    def allocation_overview(self, request: server.Request) -> Reply:
        return Reply(200, self._allocation().overview())

    def allocation_run(self, request: server.Request) -> Reply:
        return Reply(200, self._allocation().run(self._actor(request)))

    def legal_cases(self, request: server.Request) -> Reply:
        return Reply(200, {"cases": legal_cases(self._allocation().store.connection)})

    def evidence(self, request: server.Request, bid: str) -> Deferred[Reply]:
        """The evidence ZIP, built on a worker thread with its own read-only connection; audit-logged when sent."""
        run = self._allocation()
        store = self.service.store
        path = getattr(store, "path", None)
        if path is not None and str(path) == ":memory:":
            raise ApiError(404, "evidence packages need a file-backed store")
        actor, now = self._actor(request), run.clock.seconds()

        def built(result: tuple[bytes, str, int]) -> Reply:
            data, digest, count = result
            record_package(store, bid, digest, count, actor, now, f"{bid}.zip")
            request.setHeader(b"Content-Disposition", f'attachment; filename="evidence-{bid}.zip"'.encode())
            request.setHeader(b"X-Manifest-SHA256", digest.encode())
            return Reply(200, data, "application/zip")

        def failed(failure: Failure) -> Reply:
            if failure.check(EvidenceError):
                raise ApiError(404, str(failure.value))
            failure.raiseException()
            raise AssertionError("unreachable")

        return self.jobs.call(lambda: package_from_reader(store.reader(), bid, now, actor)).addCallbacks(built, failed)

    def add_legal_step(self, request: server.Request, bid: str) -> Reply:
        run = self._allocation()
        body = self._json_body(request)
        try:
            step = add_step(run.store, bid, body, self._actor(request), run.clock.seconds(), run.book.mediation_kind)
        except UnknownCaseError as exc:
            raise ApiError(404, str(exc)) from None
        except LegalStateError as exc:
            raise ApiError(409, str(exc)) from None
        return Reply(201, step)

    def list_workers(self, request: server.Request) -> Reply:
        pool = self.call_workers
        if pool is None:
            return Reply(200, {"mode": "single_process", "workers": [], "workers_up": 0,
                               "call_slots": 0, "call_slots_in_use": 0})
        workers = [w.to_dict() for w in pool.snapshot()]
        up = [w for w in workers if w["state"] in ("up", "draining")]
        return Reply(200, {"mode": "workers", "workers": workers, "workers_up": len(up),
                           "call_slots": sum(w["slots"] for w in up),
                           "call_slots_in_use": sum(w["in_use"] for w in up)})


def _page(query: dict[str, str]) -> tuple[int, int]:
    """`limit` (1..500, default 50) and `offset` (>= 0) of a paged list; anything else is a 400."""
    try:
        limit = int(query.get("limit", "50"))
        offset = int(query.get("offset", "0"))
    except ValueError:
        raise ApiError(400, "limit, offset: expected whole numbers") from None
    if not 1 <= limit <= 500 or offset < 0:
        raise ApiError(400, "limit: 1..500, offset: >= 0")
    return limit, offset


def _decoded(segments: dict[str, str]) -> dict[str, str]:
    """Percent-decode path segments after routing (so `%2F` inside an id cannot add a segment)."""
    try:
        return {key: unquote(value, errors="strict") for key, value in segments.items()}
    except UnicodeDecodeError:
        raise ApiError(400, "path: percent-encoded bytes are not UTF-8") from None


BORROWER_STATUSES = (BORROWER_ACTIVE, BORROWER_REVIEW, BORROWER_STOPPED, BORROWER_EXHAUSTED)


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON (Python's parser takes them); refuse them as a syntax error."""
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _client_address(request: server.Request) -> str:
    peer = request.getClientAddress()
    return str(getattr(peer, "host", peer))



def _summary(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_id": call["call_id"], "attempt_id": call["attempt_id"], "borrower_id": call["borrower_id"],
        "phone": mask_phone(call["phone"]), "disposition": call["disposition"], "outcome": call["outcome"],
        "sip_code": call["sip_code"], "invite_sent_at": call["invite_sent_at"], "answered_at": call["answered_at"],
        "ended_at": call["ended_at"], "duration_s": call["duration_s"], "has_recording": bool(call["recording"]),
    }


def build_site(
    service: CampaignService, settings: HttpSettings, metrics: Registry, recording_dir: Path | None = None,
    reactor: Any = None, allocation: AllocationRun | None = None,
) -> server.Site:
    api = CampaignApi(service, settings, metrics, recording_dir, reactor, allocation)
    site = server.Site(api)

    class _Request(LimitedRequest):
        max_body_bytes = settings.max_body_bytes

    site.requestFactory = _Request
    site.displayTracebacks = False
    return site

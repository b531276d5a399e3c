"""The promise ledger: payments in, promises decided (kept / partly kept / broken), review queue out.

Why one module: a payment, the promise it settles and the follow-up that decision triggers must
change together, so `import_payments` writes the good rows and reconciles in one transaction, and
the daily run (`start`) does the same for promises whose date has passed with no money. Payments
are idempotent by `reference`: importing the same feed twice changes nothing.

Decisions (with `[promises] grace_days`, default 1, in the borrower's local zone):
paid since the promise >= promised by the end of (date + grace) -> kept; some -> partly_kept;
none -> broken. Kept with everything due paid stops calls for the debt in every campaign; broken
or partly kept schedules exactly one `broken_promise` call where the strategy wants it. An
already-paid claim is verified by a payment within `verify_days` of it; with none after
`verify_days` the borrower is resumed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet.task import LoopingCall

from campaign.borrower_facts import (
    FACT_PAID_CLAIM,
    FACT_SETTLED,
    PROMISE_BROKEN,
    PROMISE_KEPT,
    PROMISE_PARTLY_KEPT,
    PROMISE_PENDING,
    PROMISE_STATES,
    REVIEW_KINDS,
    SECONDS_PER_DAY,
    add_fact,
    promise_from_row,
    promise_history,
)
from campaign.clock import ReactorClock
from campaign.importer import ImportFormatError, RawRow, decode_bytes, read_csv, read_jsonl, sniff_format
from campaign.model import BORROWER_ACTIVE, BORROWER_REVIEW, BORROWER_STOPPED
from campaign.promise_followups import REASON_BROKEN
from campaign.store import CampaignStore, NotFoundError
from config.campaign_config import PromiseSettings, StrategyBook
from telemetry.logging import log_event

log = logging.getLogger(__name__)

PAYMENT_FIELDS = ("borrower_id", "amount", "paid_at", "reference")
PROMISE_CSV_COLUMNS = ("id", "borrower_id", "campaign_id", "call_id", "promised_date", "amount", "confirmed",
                       "state", "paid_amount", "segment", "script_set", "created_at", "updated_at")
CENT = 0.005


@dataclass(frozen=True)
class Payment:
    borrower_id: str
    amount: float
    paid_at: float
    reference: str


@dataclass(frozen=True)
class ReconcileReport:
    kept: tuple[str, ...] = ()
    partly_kept: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()
    follow_ups: tuple[str, ...] = ()  # promises that got their one broken-promise call scheduled
    claims_verified: tuple[str, ...] = ()  # borrower ids
    claims_resumed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kept": list(self.kept), "partly_kept": list(self.partly_kept), "broken": list(self.broken),
                "follow_ups": list(self.follow_ups), "claims_verified": list(self.claims_verified),
                "claims_resumed": list(self.claims_resumed)}


@dataclass(frozen=True)
class PaymentReport:
    total_rows: int
    inserted: int
    unchanged: int
    errors: tuple[tuple[int, str], ...] = ()
    reconciled: ReconcileReport = field(default_factory=ReconcileReport)

    def to_dict(self) -> dict[str, Any]:
        return {"total_rows": self.total_rows, "inserted": self.inserted, "unchanged": self.unchanged,
                "errors": [{"line": n, "reason": r} for n, r in self.errors],
                "reconciled": self.reconciled.to_dict()}


def parse_paid_at(value: Any, zone: ZoneInfo) -> float:
    """Unix seconds, or ISO 8601 (a date alone is that local midnight; no offset means `zone`)."""
    if isinstance(value, bool):
        raise ValueError("expected a unix time or an ISO date/date-time")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise ValueError("expected a positive unix time")
        return float(value)
    text = str(value or "").strip()
    if not text:
        raise ValueError("missing")
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0, 0), tzinfo=zone).timestamp()
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected an ISO date or date-time such as 2026-12-02T10:30, got {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()


def validate_payment(fields: Mapping[str, Any], zone: ZoneInfo) -> Payment:
    """One payment row; every problem of the row is listed, field first (`amount: ...; paid_at: ...`)."""
    problems: list[str] = []
    unknown = sorted(k for k in fields if k not in PAYMENT_FIELDS)
    if unknown:
        problems.append(f"{unknown[0]}: unknown field (expected {', '.join(PAYMENT_FIELDS)})")
    borrower_id = str(fields.get("borrower_id") or "").strip()
    if not borrower_id:
        problems.append("borrower_id: missing")
    reference = str(fields.get("reference") or "").strip()
    if not reference:
        problems.append("reference: missing (payments are idempotent by reference)")
    amount = math.nan
    raw_amount = fields.get("amount")
    try:
        if isinstance(raw_amount, bool):
            raise ValueError
        amount = float(str(raw_amount).strip().replace(",", "")) if raw_amount not in (None, "") else math.nan
        if not math.isfinite(amount) or amount <= 0:
            raise ValueError
    except ValueError:
        problems.append(f"amount: expected a positive number, got {raw_amount!r}")
    paid_at = 0.0
    try:
        paid_at = parse_paid_at(fields.get("paid_at"), zone)
    except ValueError as exc:
        problems.append(f"paid_at: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return Payment(borrower_id, round(amount, 2), paid_at, reference)


class PromiseLedger:
    def __init__(
        self, store: CampaignStore, strategies: StrategyBook, settings: PromiseSettings, clock: ReactorClock,
        default_timezone: str = "Asia/Shanghai",
    ) -> None:
        self.store = store
        self.strategies = strategies
        self.settings = settings
        self.clock = clock
        self.zone = ZoneInfo(default_timezone)
        self._loop: LoopingCall | None = None

    def on(self, store: CampaignStore) -> PromiseLedger:
        """The same ledger writing through another store connection (campaign.store_thread)."""
        if store is self.store:
            return self
        return PromiseLedger(store, self.strategies, self.settings, self.clock, self.zone.key)

    # -- daily run ------------------------------------------------------------------------------
    def start(self) -> None:
        """Reconcile now and every `reconcile_seconds` (hourly by default, so "daily" is never late)."""
        loop = LoopingCall(self._reconcile_logged)
        loop.clock = self.clock  # type: ignore[assignment]
        self._loop = loop
        loop.start(self.settings.reconcile_seconds, now=True).addErrback(
            lambda f: log_event(log, "promises.reconcile_failed", logging.CRITICAL, error=f.getTraceback()))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _reconcile_logged(self) -> None:
        try:
            report = self.reconcile()
        except Exception as exc:  # a store hiccup must not stop the daily run
            log_event(log, "promises.reconcile_failed", logging.ERROR, error=repr(exc))
            return
        if any(report.to_dict().values()):
            log_event(log, "promises.reconciled", **{k: len(v) for k, v in report.to_dict().items()})

    # -- payments -------------------------------------------------------------------------------
    def prepare_bytes(self, name: str, data: bytes) -> tuple[int, list[tuple[int, Payment]], list[tuple[int, str]]]:
        text = decode_bytes(data)
        rows = read_jsonl(text) if sniff_format(name, text) == "jsonl" else read_csv(text)
        return self.prepare(rows)

    def prepare(self, rows: Iterable[RawRow]) -> tuple[int, list[tuple[int, Payment]], list[tuple[int, str]]]:
        good: list[tuple[int, Payment]] = []
        errors: list[tuple[int, str]] = []
        total = 0
        for row in rows:
            total += 1
            try:
                good.append((row.line, validate_payment(row.fields, self.zone)))
            except ValueError as exc:
                errors.append((row.line, str(exc)))
        return total, good, errors

    def import_bytes(self, name: str, data: bytes, source: str = "file") -> PaymentReport:
        return self.commit(*self.prepare_bytes(name, data), source=source)

    def import_records(self, records: Iterable[Mapping[str, Any]], source: str = "api") -> PaymentReport:
        rows = [RawRow(i, dict(r) if isinstance(r, Mapping) else {"(row)": r}) for i, r in enumerate(records, 1)]
        for row in rows:
            if "(row)" in row.fields:
                raise ImportFormatError(f"row {row.line}: expected a JSON object")
        return self.commit(*self.prepare(rows), source=source)

    def commit(
        self, total: int, good: list[tuple[int, Payment]], errors: list[tuple[int, str]], source: str = "file"
    ) -> PaymentReport:
        """Good rows in one transaction, then reconciliation in the same one; bad rows change nothing."""
        now = self.clock.seconds()
        inserted = unchanged = 0
        errs = list(errors)
        with self.store.transaction() as db:
            seen: dict[str, Payment] = {}
            for line, p in good:
                if p.paid_at > now + 3600:
                    errs.append((line, "paid_at: in the future"))
                    continue
                if db.execute("SELECT 1 FROM borrowers WHERE borrower_id = ? LIMIT 1", (p.borrower_id,)).fetchone() \
                        is None:
                    errs.append((line, f"borrower_id: unknown borrower {p.borrower_id!r} (import the borrower first)"))
                    continue
                old = db.execute("SELECT * FROM payments WHERE reference = ?", (p.reference,)).fetchone()
                earlier = seen.get(p.reference)
                if old is not None or earlier is not None:
                    same = (earlier == p) if earlier is not None else (
                        old["borrower_id"] == p.borrower_id and abs(old["amount"] - p.amount) < CENT
                        and abs(old["paid_at"] - p.paid_at) < 1)
                    if same:
                        unchanged += 1
                    else:
                        errs.append((line, f"reference: {p.reference!r} already stored with other values"))
                    continue
                db.execute("INSERT INTO payments (reference, borrower_id, amount, paid_at, source, imported_at)"
                           " VALUES (?,?,?,?,?,?)", (p.reference, p.borrower_id, p.amount, p.paid_at, source, now))
                seen[p.reference] = p
                inserted += 1
            report = self._reconcile(db, now)
        log_event(log, "promises.payments_imported", rows=total, inserted=inserted, unchanged=unchanged,
                  bad_rows=len(errs), source=source)
        return PaymentReport(total, inserted, unchanged, tuple(sorted(errs)), report)

    # -- reconciliation -------------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        with self.store.transaction() as db:
            return self._reconcile(db, self.clock.seconds())

    def _reconcile(self, db: Any, now: float) -> ReconcileReport:
        kept: list[str] = []
        partly: list[str] = []
        broken: list[str] = []
        follow_ups: list[str] = []
        grace = self.settings.grace_days
        pending = db.execute("SELECT * FROM promises WHERE state = ? ORDER BY created_at", (PROMISE_PENDING,))
        for row in pending.fetchall():
            p = promise_from_row(row)
            zone = ZoneInfo(p.timezone)
            made_day = dt.datetime.fromtimestamp(p.created_at, zone).date()
            since = dt.datetime.combine(made_day, dt.time(0, 0), tzinfo=zone).timestamp()
            decided = p.decided_at(grace)
            paid = float(db.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE borrower_id = ? AND paid_at >= ? AND paid_at < ?",
                (p.borrower_id, since, decided)).fetchone()[0])
            if paid >= p.amount - CENT:
                state = PROMISE_KEPT
            elif now >= decided:
                state = PROMISE_PARTLY_KEPT if paid > 0 else PROMISE_BROKEN
            else:
                if abs(paid - p.paid_amount) >= CENT:
                    db.execute("UPDATE promises SET paid_amount = ?, updated_at = ? WHERE id = ?", (paid, now, p.id))
                continue
            db.execute("UPDATE promises SET state = ?, paid_amount = ?, updated_at = ? WHERE id = ?",
                       (state, paid, now, p.id))
            promise_history(db, p.id, state, now, paid=paid, promised=p.amount)
            {PROMISE_KEPT: kept, PROMISE_PARTLY_KEPT: partly, PROMISE_BROKEN: broken}[state].append(p.id)
            if state == PROMISE_KEPT:
                self._after_kept(db, p.borrower_id, p.campaign_id, p.id, since, now)
            elif self._schedule_follow_up(db, p.borrower_id, p.campaign_id, state, now):
                db.execute("UPDATE promises SET follow_up = 'scheduled' WHERE id = ?", (p.id,))
                follow_ups.append(p.id)
        verified, resumed = self._check_paid_claims(db, now)
        return ReconcileReport(tuple(kept), tuple(partly), tuple(broken), tuple(follow_ups), verified, resumed)

    def _owner(self, db: Any, campaign_id: str, borrower_id: str) -> Any:
        return db.execute("SELECT b.*, c.strategy AS campaign_strategy, c.state AS campaign_state"
                          " FROM borrowers b JOIN campaigns c"
                          " ON c.id = b.campaign_id WHERE b.campaign_id = ? AND b.borrower_id = ?",
                          (campaign_id, borrower_id)).fetchone()

    def _after_kept(self, db: Any, borrower_id: str, campaign_id: str, promise_id: str, since: float,
                    now: float) -> None:
        """Kept: with everything due paid, no campaign calls about this debt again; else collection resumes."""
        owner = self._owner(db, campaign_id, borrower_id)
        due = float(json.loads(owner["data"]).get("amount_due") or 0.0) if owner is not None else 0.0
        total = float(db.execute("SELECT COALESCE(SUM(amount), 0) FROM payments WHERE borrower_id = ? AND"
                                 " paid_at >= ?", (borrower_id, since)).fetchone()[0])
        if total >= due - CENT:
            add_fact(db, borrower_id=borrower_id, kind=FACT_SETTLED, at=now, campaign_id=campaign_id,
                     detail={"promise": promise_id, "paid": total})
            db.execute("UPDATE borrowers SET status = ?, next_due_at = NULL, next_reason = 'stopped',"
                       " stop_reason = 'promise_kept' WHERE borrower_id = ? AND status = ?",
                       (BORROWER_STOPPED, borrower_id, BORROWER_ACTIVE))
        else:
            db.execute("UPDATE borrowers SET next_due_at = ?, next_reason = 'retry' WHERE campaign_id = ? AND"
                       " borrower_id = ? AND status = ? AND (next_due_at IS NULL OR next_reason = 'ptp_reminder')",
                       (now, campaign_id, borrower_id, BORROWER_ACTIVE))

    def _schedule_follow_up(self, db: Any, borrower_id: str, campaign_id: str, state: str, now: float) -> bool:
        """Broken / partly kept: the one follow-up call where the strategy wants it; else collection resumes."""
        owner = self._owner(db, campaign_id, borrower_id)
        if owner is None or owner["status"] != BORROWER_ACTIVE or owner["campaign_state"] == "finished":
            return False  # stopped by an operator, settled another way, or its campaign is over: no call
        strategy = self.strategies.get(owner["campaign_strategy"] or owner["strategy"])
        wants = strategy.broken_promise_call if state == PROMISE_BROKEN else strategy.partly_kept_call
        db.execute("UPDATE borrowers SET next_due_at = ?, next_reason = ? WHERE campaign_id = ? AND borrower_id = ?",
                   (now, REASON_BROKEN if wants else "retry", campaign_id, borrower_id))
        return wants

    def _check_paid_claims(self, db: Any, now: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        verified: list[str] = []
        resumed: list[str] = []
        window = self.settings.verify_days * SECONDS_PER_DAY
        for fact in db.execute("SELECT * FROM borrower_facts WHERE kind = ? AND state = 'open' ORDER BY id",
                               (FACT_PAID_CLAIM,)).fetchall():
            match = db.execute("SELECT reference FROM payments WHERE borrower_id = ? AND paid_at >= ? AND paid_at <= ?"
                               " LIMIT 1", (fact["borrower_id"], fact["created_at"] - window,
                                            fact["created_at"] + window)).fetchone()
            if match is not None:
                db.execute("UPDATE borrower_facts SET state = 'resolved', resolved_at = ?, resolution = ?,"
                           " resolved_by = 'payments' WHERE id = ?", (now, f"verified by {match[0]}", fact["id"]))
                verified.append(fact["borrower_id"])
            elif now >= fact["created_at"] + window:
                db.execute("UPDATE borrower_facts SET state = 'resolved', resolved_at = ?, resolution = ?,"
                           " resolved_by = 'payments' WHERE id = ?", (now, "no matching payment", fact["id"]))
                db.execute("UPDATE borrowers SET status = ?, next_due_at = ?, next_reason = 'paid_claim_unverified',"
                           " stop_reason = NULL WHERE borrower_id = ? AND status = ? AND stop_reason = 'paid'",
                           (BORROWER_ACTIVE, now, fact["borrower_id"], BORROWER_STOPPED))
                resumed.append(fact["borrower_id"])
        return tuple(verified), tuple(resumed)

    # -- reading --------------------------------------------------------------------------------
    def list_promises(self, campaign_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in PROMISE_STATES:
            raise ValueError(f"state: expected one of {', '.join(PROMISE_STATES)}")
        if campaign_id is not None:
            self.store.get_campaign(campaign_id)
        sql = "SELECT * FROM promises WHERE 1 = 1"
        args: list[Any] = []
        if campaign_id is not None:
            sql += " AND campaign_id = ?"
            args.append(campaign_id)
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        rows = self.store.connection.execute(sql + " ORDER BY created_at, id", args).fetchall()
        out = []
        for r in rows:
            item = {k: r[k] for k in PROMISE_CSV_COLUMNS}
            item["confirmed"] = bool(r["confirmed"])
            item["follow_up"] = r["follow_up"]
            item["history"] = [
                {"at": h["at"], "state": h["state"], **json.loads(h["detail"])}
                for h in self.store.connection.execute(
                    "SELECT * FROM promise_history WHERE promise_id = ? ORDER BY id", (r["id"],))]
            out.append(item)
        return out

    def promises_csv(self, campaign_id: str | None = None, state: str | None = None) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(PROMISE_CSV_COLUMNS)
        for p in self.list_promises(campaign_id, state):
            writer.writerow([p[c] for c in PROMISE_CSV_COLUMNS])
        return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: spreadsheets open it as UTF-8

    def summary(self, campaign_id: str | None = None) -> dict[str, Any]:
        """Captured / pending / kept / broken and the kept rate, overall and by segment and script set."""
        sql = ("SELECT COALESCE(segment, '') AS segment, COALESCE(script_set, '') AS script_set, state,"
               " COUNT(*) AS n, COALESCE(SUM(amount), 0) AS amount FROM promises WHERE state != 'superseded'")
        args: list[Any] = []
        if campaign_id is not None:
            sql += " AND campaign_id = ?"
            args.append(campaign_id)
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        total = _empty_counts()
        for r in self.store.connection.execute(sql + " GROUP BY 1, 2, 3", args):
            g = groups.setdefault((r["segment"], r["script_set"]), _empty_counts())
            for counts in (g, total):
                counts["captured"] += r["n"]
                counts[r["state"]] += r["n"]
                counts["promised_amount"] += float(r["amount"])
        rows = [{"segment": k[0] or None, "script_set": k[1] or None, **_with_rate(v)}
                for k, v in sorted(groups.items())]
        return {"total": _with_rate(total), "by_segment_and_script_set": rows}

    # -- review queue ---------------------------------------------------------------------------
    def review_queue(self, state: str = "open") -> list[dict[str, Any]]:
        if state not in ("open", "resolved"):
            raise ValueError("state: expected open or resolved")
        marks = ",".join("?" for _ in REVIEW_KINDS)
        rows = self.store.connection.execute(
            f"SELECT * FROM borrower_facts WHERE kind IN ({marks}) AND state = ? ORDER BY created_at, id",
            (*REVIEW_KINDS, state)).fetchall()
        return [{"id": r["id"], "kind": r["kind"], "borrower_id": r["borrower_id"], "campaign_id": r["campaign_id"],
                 "call_id": r["call_id"], "created_at": r["created_at"], "state": r["state"],
                 "resolution": r["resolution"], "resolved_at": r["resolved_at"], "resolved_by": r["resolved_by"]}
                for r in rows]

    def resolve_review(self, fact_id: int, resolution: str, actor: str, resume: bool = False) -> dict[str, Any]:
        """Close a complaint/dispute; `resume` puts the borrower back to dialling where nothing else is open."""
        if not resolution.strip():
            raise ValueError("resolution: must not be empty")
        now = self.clock.seconds()
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM borrower_facts WHERE id = ?", (fact_id,)).fetchone()
            if row is None or row["kind"] not in REVIEW_KINDS:
                raise NotFoundError(f"no review item {fact_id}")
            if row["state"] != "open":
                raise ReviewStateError(f"review item {fact_id} is already resolved")
            db.execute("UPDATE borrower_facts SET state = 'resolved', resolved_at = ?, resolution = ?, resolved_by = ?"
                       " WHERE id = ?", (now, resolution.strip(), actor, fact_id))
            marks = ",".join("?" for _ in REVIEW_KINDS)
            still_open = db.execute(f"SELECT COUNT(*) FROM borrower_facts WHERE borrower_id = ? AND state = 'open'"
                                    f" AND kind IN ({marks})", (row["borrower_id"], *REVIEW_KINDS)).fetchone()[0]
            resumed = 0
            if resume and not still_open:
                resumed = db.execute(
                    "UPDATE borrowers SET status = ?, next_due_at = ?, next_reason = 'retry', stop_reason = NULL"
                    " WHERE borrower_id = ? AND status = ?",
                    (BORROWER_ACTIVE, now, row["borrower_id"], BORROWER_REVIEW)).rowcount
            db.execute("INSERT INTO audit_log (at, actor, action, campaign_id, detail) VALUES (?,?,?,?,?)",
                       (now, actor, "resolve_review", row["campaign_id"],
                        json.dumps({"review": fact_id, "resolution": resolution.strip(), "resume": resume,
                                    "borrowers_resumed": resumed}, ensure_ascii=False)))
        return {**next(r for r in self.review_queue("resolved") if r["id"] == fact_id), "borrowers_resumed": resumed}


class ReviewStateError(ValueError):
    """Resolving a review item twice (HTTP 409)."""


def _empty_counts() -> dict[str, Any]:
    counts: dict[str, Any] = {s: 0 for s in PROMISE_STATES if s != "superseded"}
    counts["captured"] = 0
    counts["promised_amount"] = 0.0
    return counts


def _with_rate(counts: dict[str, Any]) -> dict[str, Any]:
    decided = counts[PROMISE_KEPT] + counts[PROMISE_PARTLY_KEPT] + counts[PROMISE_BROKEN]
    return {**counts, "kept_rate": round(counts[PROMISE_KEPT] / decided, 4) if decided else None}

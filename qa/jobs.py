"""What to replay and what a replay found: calls from the campaign store (read-only) or bare files.

QA reads the store only through `campaign.store.CampaignStore`'s `get_call`, `get_borrower`,
`get_campaign`, `list_campaigns` and `list_calls`; it never writes there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from campaign.store import NotFoundError
from dialogue.borrower import Borrower, BorrowerError, BorrowerFileError, load_borrower_file
from qa.audit import AuditReport, AuditRules, audit_call
from qa.diff import CallDiff, diff_calls
from qa.replay import ReplayError, ReplayKit, ReplayResult, replay_recording
from session.record import CallRecord, TurnRecord


class CallReader(Protocol):
    """The read-only slice of `campaign.store.CampaignStore` QA uses."""

    def get_call(self, call_id: str) -> dict[str, Any]: ...

    def get_borrower(self, campaign_id: str, borrower_id: str) -> Any: ...

    def get_campaign(self, campaign_id: str) -> Any: ...

    def list_calls(self, campaign_id: str, limit: int, offset: int) -> list[dict[str, Any]]: ...

    def list_campaigns(self) -> list[Any]: ...


@dataclass(frozen=True)
class ReplayJob:
    recording: Path
    borrower: Borrower
    live: CallRecord | None
    timezone: str


@dataclass(frozen=True)
class ReplayReport:
    job: ReplayJob
    result: ReplayResult
    diff: CallDiff | None
    audit: AuditReport  # of the replayed conversation
    live_audit: AuditReport | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "recording": str(self.job.recording),
            "call_id": self.job.live.call_id if self.job.live else None,
            "recognizer": self.result.recognizer,
            "notes": list(self.result.notes),
            "script_set": self.result.script_set,
            "end_reason": self.result.end_reason,
            "outcome": self.result.outcome,
            "speed_x": round(self.result.speed, 1),
            "turns": [t.to_dict() for t in self.result.turns],
            "same_as_live": None if self.diff is None else self.diff.same,
            "diff": None if self.diff is None else _diff_dict(self.diff),
            "audit": _audit_dict(self.audit),
            "live_audit": None if self.live_audit is None else _audit_dict(self.live_audit),
        }


def _diff_dict(diff: CallDiff) -> dict[str, Any]:
    return {
        "turns": [
            {
                "index": t.index,
                "only_in": None if t.live and t.replay else ("replay" if t.replay else "live"),
                "changes": [{"field": c.field, "live": c.live, "replay": c.replay} for c in t.changes],
            }
            for t in diff.turns
            if not t.same
        ],
        "outcome": [{"field": c.field, "live": c.live, "replay": c.replay} for c in diff.outcome_changes],
    }


def _audit_dict(audit: AuditReport) -> dict[str, Any]:
    return {
        "passed": audit.passed,
        "findings": [
            {"rule": f.rule, "title": f.title, "passed": f.passed, "detail": f.detail, "turn": f.turn}
            for f in audit.findings
        ],
    }


def job_from_store(store: CallReader, call_id: str) -> ReplayJob:
    try:
        call = store.get_call(call_id)
    except NotFoundError:
        raise ReplayError(f"no call {call_id!r} in the store") from None
    live = CallRecord.from_dict(call["record"])
    if not call.get("recording"):
        raise ReplayError(f"call {call_id} has no recording to replay")
    state = store.get_borrower(call["campaign_id"], call["borrower_id"])
    try:
        borrower = Borrower.from_dict(state.data)
    except BorrowerError as exc:
        raise ReplayError(f"call {call_id}: stored borrower record is unusable: {exc}") from None
    timezone = state.timezone or store.get_campaign(call["campaign_id"]).timezone or borrower.timezone
    return ReplayJob(Path(call["recording"]), borrower, live, timezone)


def jobs_for_campaign(store: CallReader, campaign_id: str) -> list[ReplayJob]:
    store.get_campaign(campaign_id)  # NotFoundError names the campaign
    return [job_from_store(store, row["call_id"]) for row in _calls(store, campaign_id) if row.get("recording")]


def _calls(store: CallReader, campaign_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = store.list_calls(campaign_id, 200, len(rows))
        if not page:
            return rows
        rows += page


def recording_index(store: CallReader) -> dict[str, str]:
    """Recording file name -> call id over every campaign: a recording is named after its call and
    the store may keep it under another folder (a copied demo run), so the name is what identifies it."""
    index: dict[str, str] = {}
    for campaign in store.list_campaigns():
        for row in _calls(store, campaign.id):
            if row.get("recording"):
                index.setdefault(Path(row["recording"]).name, row["call_id"])
    return index


def demo_store_for(recording: Path) -> Path:
    """Where `server.py demo` keeps the store of the run a recording belongs to (RUN/recordings/x.wav)."""
    return recording.resolve().parent.parent / "campaigns.sqlite3"


def job_from_file(recording: Path, borrower_file: Path) -> ReplayJob:
    """A bare recording: the live record comes from a `<name>.json` beside it when there is one."""
    if recording.suffix.lower() != ".wav":
        raise ReplayError(f"{recording}: expected a stereo .wav recording, a folder of them, or a call id")
    try:
        borrower = load_borrower_file(borrower_file)
    except BorrowerFileError as exc:
        raise ReplayError(f"cannot use it as the borrower record: {exc}") from None
    live = None
    sidecar = recording.with_suffix(".json")
    if sidecar.is_file():
        try:
            live = CallRecord.from_dict(json.loads(sidecar.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ReplayError(f"{sidecar}: not a call record ({exc})") from None
    return ReplayJob(recording, borrower, live, borrower.timezone)


def run_job(
    job: ReplayJob, kit: ReplayKit, rules: AuditRules, *, script_set: str | None = None, force_asr: bool = False
) -> ReplayReport:
    result = replay_recording(
        job.recording, job.borrower, kit, live=job.live, script_set=script_set,
        use_live_texts=False if force_asr else None,
    )
    diff = None
    live_audit = None
    base = job.live
    if base is not None:
        diff = diff_calls(base.turns, result.turns, base.outcome, result.outcome)
        live_audit = audit_call(base, rules, job.timezone)
    replayed = _as_record(job, result)
    return ReplayReport(job, result, diff, audit_call(replayed, rules, job.timezone), live_audit)


def _as_record(job: ReplayJob, result: ReplayResult) -> CallRecord:
    live = job.live
    turns: tuple[TurnRecord, ...] = result.turns
    return CallRecord(
        call_id=live.call_id if live else job.recording.stem,
        borrower_id=job.borrower.id,
        attempt_id=None,
        trunk=None,
        script_set=result.script_set,
        disposition="answered",
        sip_code=200,
        sip_reason="OK",
        invite_sent_at=live.invite_sent_at if live else job.recording.stat().st_mtime,
        ringing_at=None,
        answered_at=live.answered_at if live else job.recording.stat().st_mtime,
        ended_at=live.ended_at if live else None,
        hangup_by="bot" if result.end_reason != "recording_ended" else "remote",
        end_reason=result.end_reason,
        recording=str(job.recording),
        outcome=result.outcome,
        turns=turns,
        recognizer=result.recognizer,
    )

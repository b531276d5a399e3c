"""Evidence package for the legal track: one ZIP per borrower that a mediator or court can check.

Why a manifest with hashes: the package leaves our hands (mediation organisation, court), so the
receiver must be able to tell that nothing was altered. Every file's SHA-256 is in `manifest.json`,
the manifest's own SHA-256 is in `manifest.sha256` and also in the store's audit log (the copy we
keep), so a package whose files and manifest were both rewritten still fails against our record.
The package holds personal data on purpose; logs and the audit log get only ids, counts and hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import zipfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign.db import Connection
from telemetry.logging import log_event

log = logging.getLogger(__name__)

FORMAT = "voicebot-evidence/1"
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"


class EvidenceError(ValueError):
    """No such borrower, or a package that cannot be read."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    manifest_sha256: str
    problems: tuple[str, ...]
    files: int


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")


def _rows(db: Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute(sql, args)]


def _decode(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    for row in rows:
        for key in keys:
            if isinstance(row.get(key), str):
                with contextlib.suppress(json.JSONDecodeError):
                    row[key] = json.loads(row[key])
    return rows


def _transcript(call: dict[str, Any], turns: list[dict[str, Any]]) -> str:
    lines = [f"call {call['call_id']}  campaign {call['campaign_id']}  disposition {call['disposition']}",
             f"invite_sent_at {call['invite_sent_at']}  answered_at {call['answered_at']}  ended_at {call['ended_at']}",
             ""]
    for t in turns:
        if t.get("prompt_text"):
            lines.append(f"[{t['idx']}] bot ({t['node']}): {t['prompt_text']}")
        if t.get("heard_text"):
            lines.append(f"[{t['idx']}] borrower ({t.get('intent')}, {t.get('confidence')}): {t['heard_text']}")
    return "\n".join(lines) + "\n"


def collect(db: Connection, borrower_id: str) -> dict[str, bytes]:
    """Every file of the package (name -> bytes) from the store and the recordings on disk."""
    borrowers = _decode(_rows(db, "SELECT * FROM borrowers WHERE borrower_id = ? ORDER BY imported_at",
                              borrower_id), "data")
    if not borrowers:
        raise EvidenceError(f"no borrower {borrower_id!r} in the store")
    files: dict[str, bytes] = {}
    contacts = _rows(db, "SELECT * FROM contacts WHERE borrower_id = ? ORDER BY campaign_id, rank", borrower_id)
    files["borrower.json"] = _json({"borrower_id": borrower_id, "records": borrowers, "contacts": contacts})
    files["attempts.json"] = _json(_rows(db, "SELECT * FROM attempts WHERE borrower_id = ? ORDER BY started_at, id",
                                         borrower_id))
    missing: list[dict[str, Any]] = []
    calls = _rows(db, "SELECT * FROM calls WHERE borrower_id = ? ORDER BY invite_sent_at, call_id", borrower_id)
    for call in calls:
        cid = call["call_id"]
        turns = _rows(db, "SELECT * FROM turns WHERE call_id = ? ORDER BY idx", cid)
        outcome = _decode(_rows(db, "SELECT * FROM outcomes WHERE call_id = ?", cid), "data")
        record = dict(call)
        record["record"] = json.loads(call["record"])
        files[f"calls/{_safe(cid)}.json"] = _json({"call": record, "turns": _decode(turns, "data"),
                                                   "outcome": outcome[0] if outcome else None})
        files[f"transcripts/{_safe(cid)}.txt"] = _transcript(call, turns).encode("utf-8")
        if call["recording"]:
            path = Path(call["recording"])
            try:
                files[f"recordings/{_safe(cid)}{path.suffix or '.wav'}"] = path.read_bytes()
            except OSError as exc:
                missing.append({"call_id": cid, "recording": str(path), "reason": exc.strerror or str(exc)})
    promises = _rows(db, "SELECT * FROM promises WHERE borrower_id = ? ORDER BY created_at", borrower_id)
    for p in promises:
        p["history"] = _decode(_rows(db, "SELECT at, state, detail FROM promise_history WHERE promise_id = ?"
                                         " ORDER BY id", p["id"]), "detail")
    files["promises.json"] = _json({
        "promises": promises,
        "payments": _rows(db, "SELECT * FROM payments WHERE borrower_id = ? ORDER BY paid_at", borrower_id)})
    phones = [c["phone"] for c in contacts]
    opt_outs = _rows(db, f"SELECT * FROM opt_outs WHERE phone IN ({','.join('?' * len(phones))})"
                     " OR borrower_id = ?", *phones, borrower_id) if phones else []
    facts = _decode(_rows(db, "SELECT * FROM borrower_facts WHERE borrower_id = ? ORDER BY id", borrower_id),
                    "detail")
    files["opt_outs_and_complaints.json"] = _json({
        "opt_outs": opt_outs, "facts": facts,
        "refusals": _rows(db, "SELECT * FROM refusals WHERE borrower_id = ? ORDER BY id", borrower_id)})
    files["allocation.json"] = _json({
        "current": _rows(db, "SELECT * FROM allocations WHERE borrower_id = ?", borrower_id),
        "moves": _rows(db, "SELECT * FROM allocation_moves WHERE borrower_id = ? ORDER BY id", borrower_id),
        "legal_steps": _rows(db, "SELECT * FROM legal_steps WHERE borrower_id = ? ORDER BY id", borrower_id)})
    if missing:
        files["missing.json"] = _json(missing)
    return files


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)


def build_package(db: Connection, borrower_id: str, created_at: float, created_by: str) -> tuple[bytes, str]:
    """(zip bytes, manifest SHA-256)."""
    files = collect(db, borrower_id)
    manifest = {
        "format": FORMAT, "borrower_id": borrower_id, "created_at": created_at, "created_by": created_by,
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for name, data in sorted(files.items())],
    }
    manifest_bytes = _json(manifest)
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, manifest_bytes)
        z.writestr(MANIFEST_HASH, (digest + "  " + MANIFEST + "\n").encode())
        for name, data in sorted(files.items()):
            z.writestr(name, data)
    return buf.getvalue(), digest


def package_from_reader(
    reader: AbstractContextManager[Connection], borrower_id: str, created_at: float, created_by: str
) -> tuple[bytes, str, int]:
    """Build a package on a worker thread over its own read-only connection (`SqlStore.reader()`)."""
    with reader as db:
        data, digest = build_package(db, borrower_id, created_at, created_by)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return data, digest, len(z.namelist()) - 2


def record_package(store: Any, borrower_id: str, digest: str, count: int, actor: str, now: float,
                   name: str) -> None:
    """The audit-log entry and log line for a package handed out: ids, counts and the hash, no personal data."""
    store.audit(actor, "evidence", None, {"borrower_id": borrower_id, "files": count, "manifest_sha256": digest,
                                          "package": name}, now)
    log_event(log, "evidence.written", borrower=borrower_id, files=count, manifest_sha256=digest)


def write_package(store: Any, borrower_id: str, out: Path, actor: str, now: float) -> tuple[str, int]:
    """Write the ZIP, then the audit-log entry (ids, counts and the hash only); returns (hash, file count)."""
    data, digest = build_package(store.connection, borrower_id, now, actor)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        count = len(z.namelist()) - 2
    record_package(store, borrower_id, digest, count, actor, now, out.name)
    return digest, count


def verify_package(path: Path, expected_manifest_sha256: str | None = None) -> VerifyResult:
    """Check every file against the manifest, the manifest against its hash (and against ours, when given)."""
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EvidenceError(f"{path}: not a readable ZIP ({exc})") from None
    problems: list[str] = []
    with z:
        names = set(z.namelist())
        if MANIFEST not in names:
            raise EvidenceError(f"{path}: no {MANIFEST} in the package")
        manifest_bytes = z.read(MANIFEST)
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        stated = z.read(MANIFEST_HASH).decode("ascii", "replace").split()[0] if MANIFEST_HASH in names else ""
        if stated != digest:
            problems.append(f"{MANIFEST}: SHA-256 {digest} does not match {MANIFEST_HASH} ({stated or 'missing'})")
        if expected_manifest_sha256 is not None and expected_manifest_sha256.lower() != digest:
            problems.append(f"{MANIFEST}: SHA-256 {digest} is not the recorded {expected_manifest_sha256}")
        try:
            manifest = json.loads(manifest_bytes)
            entries = {e["path"]: e for e in manifest["files"]}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvidenceError(f"{path}: {MANIFEST} is not a valid manifest ({exc})") from None
        for name, entry in sorted(entries.items()):
            if name not in names:
                problems.append(f"{name}: listed in the manifest but missing from the package")
                continue
            actual = hashlib.sha256(z.read(name)).hexdigest()
            if actual != entry["sha256"]:
                problems.append(f"{name}: SHA-256 {actual} differs from the manifest's {entry['sha256']}")
        for name in sorted(names - set(entries) - {MANIFEST, MANIFEST_HASH}):
            problems.append(f"{name}: in the package but not in the manifest")
    return VerifyResult(ok=not problems, manifest_sha256=digest, problems=tuple(problems), files=len(entries))

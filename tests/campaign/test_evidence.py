"""Evidence package (issue 13): every call of the case with hashes that verify; tampering fails verification."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path

import pytest
from campaign_fakes import borrower_row, run_for
from campaign_stack import Stack, StackFactory

from server import build_parser
from telemetry.logging import masked_fields


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    args = build_parser().parse_args(["evidence", *argv])
    out, err = io.StringIO(), io.StringIO()
    return args.run(args, out=out, err=err), out.getvalue(), err.getvalue()


def _case_with_two_calls(stack_factory: StackFactory, tmp_path: Path) -> Stack:
    """B001 is called by campaign A and again by campaign B (a second number added), with recordings; B002 once."""
    s = stack_factory()
    s.runner.recording_dir = tmp_path
    s.runner.outcome = lambda b: {"disposition": "refused", "identity_confirmed": True}
    a = s.service.create_campaign("A")
    s.service.import_records(a.id, [borrower_row(1), borrower_row(2)])
    s.scheduler.start()
    s.service.start(a.id)
    run_for(s.clock, 60)
    b = s.service.create_campaign("B")
    s.service.import_records(b.id, [borrower_row(1, alt_phones=["13900139000"])])
    s.service.start(b.id)
    run_for(s.clock, 120)
    return s


def _rewrite(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, change.get(name, zin.read(name)))


def test_package_holds_every_call_and_verifies(stack_factory: StackFactory, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Both calls of B001 (records, transcripts, recordings) are in the ZIP, B002's are not; hashes verify;
    writing it is one audit-log entry with the manifest hash and no phone number; logs hold no phone number."""
    s = _case_with_two_calls(stack_factory, tmp_path)
    calls = [r["call_id"] for r in s.store.connection.execute(
        "SELECT call_id FROM calls WHERE borrower_id = 'B001'")]
    assert len(calls) == 2
    out = tmp_path / "pkg" / "B001.zip"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        code, text, err = run_cli(["B001", "-o", str(out), "--store", str(s.store.path)])
    assert (code, err) == (0, ""), err
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        borrower = json.loads(z.read("borrower.json"))
    for cid in calls:
        assert {f"calls/{cid}.json", f"transcripts/{cid}.txt", f"recordings/{cid}.wav"} <= names
    assert len([n for n in names if n.startswith("calls/")]) == 2
    assert {e["path"] for e in manifest["files"]} == names - {"manifest.json", "manifest.sha256"}
    assert {"+8613800130001", "+8613900139000"} <= {c["phone"] for c in borrower["contacts"]}
    assert {"promises.json", "attempts.json", "opt_outs_and_complaints.json", "allocation.json"} <= names
    code, text, _ = run_cli(["--verify", str(out)])
    assert code == 0 and "verified" in text
    (entry,) = [e for e in s.store.audit_log() if e["action"] == "evidence"]
    detail = json.loads(entry["detail"])
    assert detail["borrower_id"] == "B001" and detail["manifest_sha256"] in text
    assert "138" not in entry["detail"] and "+86" not in entry["detail"]
    assert any(r.getMessage() == "evidence.written" for r in caplog.records)
    leaks = [r.getMessage() for r in caplog.records  # what the masking formatter would write
             if "13800130001" in r.getMessage() + json.dumps(masked_fields(r), default=str)]
    assert not leaks, leaks


def test_a_tampered_file_fails_verification(stack_factory: StackFactory, tmp_path: Path) -> None:
    """A changed transcript fails; a package rewritten with a matching manifest passes its own check but fails
    against the hash recorded in the audit log; an extra file is reported."""
    s = _case_with_two_calls(stack_factory, tmp_path)
    out = tmp_path / "B001.zip"
    assert run_cli(["B001", "-o", str(out), "--store", str(s.store.path)])[0] == 0
    recorded = json.loads(next(e for e in s.store.audit_log() if e["action"] == "evidence")["detail"])[
        "manifest_sha256"]
    with zipfile.ZipFile(out) as z:
        transcript = next(n for n in z.namelist() if n.startswith("transcripts/"))
        manifest = json.loads(z.read("manifest.json"))
    bad = tmp_path / "bad.zip"
    _rewrite(out, bad, {transcript: b"the borrower agreed to everything\n"})
    code, text, _ = run_cli(["--verify", str(bad)])
    assert code == 1 and f"FAIL {transcript}: SHA-256" in text and "NOT verified" in text
    for e in manifest["files"]:
        if e["path"] == transcript:
            e["sha256"] = hashlib.sha256(b"forged\n").hexdigest()
    forged_manifest = json.dumps(manifest).encode()
    forged = tmp_path / "forged.zip"
    _rewrite(out, forged, {transcript: b"forged\n", "manifest.json": forged_manifest,
                           "manifest.sha256": hashlib.sha256(forged_manifest).hexdigest().encode() + b"\n"})
    assert run_cli(["--verify", str(forged)])[0] == 0  # consistent on its own ...
    code, text, _ = run_cli(["--verify", str(forged), "--expect-hash", recorded])
    assert code == 1 and "is not the recorded" in text  # ... but not the package we recorded
    extra = tmp_path / "extra.zip"
    _rewrite(out, extra, {})
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr("calls/extra.json", b"{}")
    code, text, _ = run_cli(["--verify", str(extra)])
    assert code == 1 and "calls/extra.json: in the package but not in the manifest" in text


def test_unknown_borrower_writes_nothing(stack_factory: StackFactory, tmp_path: Path) -> None:
    """An unknown borrower is a clear error (exit 2), no file and no audit entry."""
    s = stack_factory()
    out = tmp_path / "x.zip"
    code, _, err = run_cli(["NOPE", "-o", str(out), "--store", str(s.store.path)])
    assert code == 2 and "no borrower 'NOPE'" in err and not out.exists()
    assert [e for e in s.store.audit_log() if e["action"] == "evidence"] == []

"""End to end over real SIP (issue 12): a borrower promises and hangs up before confirming the read-back.

One call through `python -m session.loopback` against the sim phone (pjsua2 both sides; the words
reach the `sim` recognizer by SIP INFO, everything else is real), then stored as the dialer stores it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from live_peers import daytime_zone, run_loopback, usable_manifest

from session.record import CallRecord
from sim.process import SimPhoneProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BORROWER = ROOT / "config" / "borrower.example.json"


@pytest.fixture(scope="module")
def hung_up_promise(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("live_promise_hangup")
    zone = daytime_zone()
    with SimPhoneProcess(log_path=out / "phone.log", cache_dir=out / "voice-cache") as phone:
        summary = run_loopback(phone.port, ["promise_hangs_up"], out, timezone=zone, manifest=usable_manifest(out))
    assert not summary["errors"], summary["errors"]
    (call,) = summary["calls"]
    record = CallRecord.from_dict(json.loads(Path(call["record"]).read_text("utf-8")))
    return {"record": record, "zone": zone, "out": out}


def test_promise_cut_short_is_stored_unconfirmed(hung_up_promise: dict[str, Any]) -> None:
    """The borrower hangs up after '我后天还三千': the record and the store keep the promise, confirmed false."""
    from campaign.model import AttemptStart, Campaign, ImportedBorrower
    from campaign.store import SqliteStore

    record: CallRecord = hung_up_promise["record"]
    assert record.hangup_by == "remote", record.end_reason
    outcome = record.outcome
    assert outcome is not None
    assert (outcome["disposition"], outcome["ptp_amount"], outcome["confirmed"], outcome["completed"]) == (
        "promise_to_pay", 3000.0, False, False)
    assert outcome["ptp_date"] is not None

    zone, now = hung_up_promise["zone"], time.time()
    store = SqliteStore(hung_up_promise["out"] / "store.sqlite3")
    store.create_campaign(Campaign("c1", "live", "running", None, zone, None, "4000", 4, 1.0, now))
    base = json.loads(EXAMPLE_BORROWER.read_text("utf-8"))
    store.upsert_borrowers("c1", [ImportedBorrower(record.borrower_id, {**base, "id": record.borrower_id,
                                                                         "timezone": zone}, (base["phone"],), zone)],
                           now)
    assert record.attempt_id is not None
    store.begin_attempt(AttemptStart(record.attempt_id, "c1", record.borrower_id, base["phone"], None, "manual", now))
    store.complete_attempt(record.attempt_id, record, now)
    stored = store.get_call(record.call_id)
    store.close()
    assert stored["outcome"] == "promise_to_pay"
    kept = stored["record"]["outcome"]
    assert (kept["ptp_date"], kept["ptp_amount"], kept["confirmed"]) == (outcome["ptp_date"], 3000.0, False)

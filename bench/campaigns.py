#!/usr/bin/env python3
"""Campaign figures: import throughput, store write latency, gate and tick cost, progress snapshot.

The store runs on the reactor thread, so these numbers are how long one operation holds the reactor.
Run: .venv/bin/python bench/campaigns.py [--borrowers 10000] [--url postgresql://USER@HOST/EMPTY_DB]
(without --url: a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from campaign.dialer import Dialer  # noqa: E402
from campaign.model import AttemptStart  # noqa: E402
from campaign.scheduler import Scheduler  # noqa: E402
from campaign.service import CampaignService  # noqa: E402
from campaign.store import PostgresStore, SqliteStore, SqlStore  # noqa: E402
from config.campaign_config import CampaignSettings, load_strategies  # noqa: E402
from dialogue.segments import load_segments  # noqa: E402
from session.record import CallRecord  # noqa: E402
from telemetry.metrics import Registry  # noqa: E402

HEADER = "id,name,gender,phone,amount_due,overdue_days,due_date,product,creditor,risk_score,value_tier,timezone"
ZONES = ("Asia/Shanghai", "Asia/Urumqi", "America/New_York", "Europe/London")


class NeverAnswers:
    """A placer whose calls never complete: the bench measures scheduling, not calls."""

    def dial(self, target: str, trunk: str | None = None, *, record_path: str | None = None,
             max_seconds: float | None = None, caller_id: str | None = None) -> Deferred[Any]:
        return Deferred()


def csv_rows(n: int) -> bytes:
    lines = [HEADER]
    for i in range(n):
        lines.append(f"B{i:06d},张伟,male,13{i % 10}{i:08d},{1000 + i % 5000},{i % 90},2026-11-16,信用贷,"
                     f"示例消费金融,{300 + i % 700},{'high' if i % 7 == 0 else 'normal'},{ZONES[i % len(ZONES)]}")
    return "\n".join(lines).encode("gbk")


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--borrowers", type=int, default=10000)
    parser.add_argument("--url", default=None, help="an empty PostgreSQL database to measure instead of SQLite")
    args = parser.parse_args()
    n = args.borrowers
    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock()
        clock.advance(dt.datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
        store: SqlStore = PostgresStore(args.url) if args.url else SqliteStore(Path(tmp) / "bench.sqlite3")
        print(f"store: {store.dialect}")
        book = load_strategies()
        segments = load_segments(strategies=frozenset(book.strategies))
        settings = CampaignSettings(tick_seconds=1.0, max_concurrent_calls=50, calls_per_second=50)
        dialer = Dialer(store, NeverAnswers(), None, clock, segments=segments, metrics=Registry())
        scheduler = Scheduler(store, book, dialer, clock, settings, metrics=Registry())
        service = CampaignService(store, scheduler, book, settings, clock, segments=segments)
        campaign = service.create_campaign("bench")
        data = csv_rows(n)

        t0 = time.perf_counter()
        prepared = service.importer.prepare_bytes("bench.csv", data)
        t1 = time.perf_counter()
        report = service.import_prepared(campaign.id, prepared)
        t2 = time.perf_counter()
        again = service.import_prepared(campaign.id, service.importer.prepare_bytes("bench.csv", data))
        t3 = time.perf_counter()
        assert report.inserted == n and again.unchanged == n, (report, again)
        print(f"import {n} GBK CSV rows (the API runs both on its store thread): validate {t1 - t0:.2f} s, "
              f"write {t2 - t1:.2f} s (one transaction), {n / (t2 - t0):.0f} rows/s overall; "
              f"same file again (no-op): {t3 - t2:.2f} s")

        counter = iter(range(10**9))

        def write_attempt() -> None:
            i = next(counter)
            attempt = AttemptStart(f"a{i}", campaign.id, f"B{i % n:06d}", "+8613000000000", None, "bench",
                                   clock.seconds() - 86400 * 3)
            store.begin_attempt(attempt)
            store.complete_attempt(attempt.attempt_id, CallRecord(
                call_id=f"c{i}", borrower_id=attempt.borrower_id, attempt_id=attempt.attempt_id, trunk=None,
                script_set=None, disposition="busy", sip_code=486, sip_reason="Busy Here",
                invite_sent_at=attempt.started_at, ringing_at=None, answered_at=None, ended_at=attempt.started_at,
                hangup_by=None, end_reason="busy", recording=None, outcome=None), attempt.started_at)

        writes = timed(write_attempt, 300)
        print(f"attempt begin+complete (2 commits, synchronous=FULL): median {statistics.median(writes):.2f} ms, "
              f"p90 {sorted(writes)[int(0.9 * len(writes))]:.2f} ms")

        borrower = store.get_borrower(campaign.id, "B000001")
        strategy = book.get(borrower.strategy)
        gate = timed(lambda: scheduler.gate.check(
            borrower_id=borrower.borrower_id, phone="+8613000000001", valid_contact=True, timezone=borrower.timezone,
            campaign_timezone=campaign.timezone, strategy=strategy, now=clock.seconds()), 2000)
        print(f"compliance gate check (C1-C3, C7; 300 attempts stored): "
              f"median {statistics.median(gate) * 1000:.0f} us")
        def check_without_zone(phone: str) -> Any:
            return scheduler.gate.check(
                borrower_id=borrower.borrower_id, phone=phone, valid_contact=True, timezone=None,
                campaign_timezone=campaign.timezone, strategy=strategy, now=clock.seconds())

        for phone, label in (("+8613000000001", "+86, 1 zone"), ("+79161234567", "+7, 16 zones")):
            unknown = timed(functools.partial(check_without_zone, phone), 2000)
            print(f"compliance gate check, borrower without zone ({label} from the number): "
                  f"median {statistics.median(unknown) * 1000:.0f} us")

        claim_counter = iter(range(10**9))

        def claim() -> None:  # the gate again under the claim lock, then the insert: what each dial now costs
            i = next(claim_counter)
            attempt = AttemptStart(f"k{i}", campaign.id, f"B{(i * 7919) % n:06d}", f"+86130{i:08d}", None, "bench",
                                   clock.seconds())
            result = store.claim_attempt(attempt, lambda: check_without_zone(attempt.phone), due_by=clock.seconds())
            assert result.begun or result.taken, result

        claims = timed(claim, 300)
        print(f"claim_attempt (lock, recheck gate, insert; one commit): median {statistics.median(claims):.2f} ms, "
              f"p90 {sorted(claims)[int(0.9 * len(claims))]:.2f} ms")

        progress = timed(lambda: service.progress(campaign.id), 20)
        print(f"progress snapshot over {n} borrowers: median {statistics.median(progress):.1f} ms")

        service.start(campaign.id)  # first tick dials up to the pacing limit
        ticks = timed(scheduler.tick, 50)  # calls never end: every further tick finds the campaign at its limit
        print(f"scheduler tick, campaign at its concurrency limit ({dialer.in_flight()} live): "
              f"median {statistics.median(ticks):.2f} ms")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

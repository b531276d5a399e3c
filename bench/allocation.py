#!/usr/bin/env python3
"""Allocation figures: rule engine per case, history reading per borrower, one daily run over a store.

The daily run (`AllocationRun.run`) reads the store on the reactor thread, so its total is how long
it holds the reactor once a day. Prints medians of --repeat runs.
Run: .venv/bin/python bench/allocation.py [--borrowers 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet.task import Clock  # noqa: E402

from campaign.allocation import Case, History, allocate  # noqa: E402
from campaign.allocation_history import cases_from_store  # noqa: E402
from campaign.allocation_store import AllocationRun  # noqa: E402
from campaign.model import ImportedBorrower  # noqa: E402
from campaign.store import SqliteStore  # noqa: E402
from config.allocation_config import load_allocation  # noqa: E402
from dialogue.segments import load_segments  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--borrowers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    book, segments = load_allocation(), load_segments()
    today = dt.date(2026, 12, 2)
    cases = [Case(f"B{i}", 1000.0 + (i % 70) * 1000, 300 + i % 700, "high" if i % 10 == 0 else "normal",
                  today - dt.timedelta(days=i % 150),
                  history=History(broken_promises=i % 3, refusals_confirmed=i % 4 // 2, hardship=i % 17 == 0,
                                  open_complaint=i % 29 == 0))
             for i in range(args.borrowers)]
    per_case = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for c in cases:
            allocate(c, book, today, segments)
        per_case.append((time.perf_counter() - t0) / len(cases) * 1e6)
    print(f"allocate (pure): median {statistics.median(per_case):.1f} us per case over {len(cases)} cases")

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite3")
        clock = Clock()
        clock.advance(dt.datetime(2026, 12, 2, 3, 0).timestamp())
        from campaign.model import Campaign

        store.create_campaign(Campaign(id="c1", name="bench", state="draft", strategy=None, timezone="Asia/Shanghai",
                                       trunk=None, caller_id="", max_concurrent_calls=5, calls_per_second=1.0,
                                       created_at=0.0))
        rows = [ImportedBorrower(
            borrower_id=f"B{i:06d}", data={"id": f"B{i:06d}", "amount_due": 1000.0 + i % 70 * 1000,
                                          "due_date": (today - dt.timedelta(days=i % 150)).isoformat(),
                                          "overdue_days": i % 150, "risk_score": 300 + i % 700, "value_tier": "normal"},
            phones=(f"+86138{i:08d}",), timezone="Asia/Shanghai", segment=None, strategy=None, script_set=None,
            priority=0.0) for i in range(args.borrowers)]
        store.upsert_borrowers("c1", rows, 0.0)
        reads, runs = [], []
        run = AllocationRun(store, book, segments, clock, "Asia/Shanghai")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            cases_from_store(store.connection)
            reads.append((time.perf_counter() - t0) / args.borrowers * 1e6)
            t0 = time.perf_counter()
            run.run("bench")
            runs.append(time.perf_counter() - t0)
            clock.advance(86400)
        print(f"history from store: median {statistics.median(reads):.0f} us per borrower")
        print(f"daily run over {args.borrowers} borrowers (reactor held): median {statistics.median(runs):.2f} s "
              f"(first run stores every case; later runs only moves)")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

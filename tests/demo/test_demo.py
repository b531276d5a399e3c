"""The demo: its data, its C1 time-zone choice, its summary, and (integration) a 3-borrower run over real SIP."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from shared_runs import DemoRun

from cli.demo import (
    DEMO_DIR,
    choose_zone,
    format_summary,
    percentile,
    prepare_borrowers,
    read_jsonl,
    strictest_window,
    summarize,
)
from dialogue.borrower import Borrower
from dialogue.segments import load_segments, segment_for
from sim.personas import choose_persona, load_number_map, load_personas

ROOT = Path(__file__).resolve().parents[2]
WINDOW = (dt.time(9, 0), dt.time(20, 0))


def test_demo_borrowers_cover_the_segments_and_have_personas() -> None:
    """Every demo record is a valid borrower, ten segments are covered, and each number has a persona."""
    records = read_jsonl(DEMO_DIR / "borrowers.jsonl")
    borrowers = [Borrower.from_dict(r) for r in records]
    segments = load_segments()
    assert 10 <= len(borrowers) <= 15
    assert len({segment_for(b, segments).name for b in borrowers}) == 10
    book = load_personas()
    numbers = load_number_map(DEMO_DIR / "sim_numbers.toml", book)
    personas = {choose_persona(b.phone, book, numbers) for b in borrowers}
    assert None not in personas
    assert len(personas) == len(borrowers)  # one persona each: every behaviour shows up once


def test_shanghai_kept_when_inside_the_window() -> None:
    """At 14:00 in Shanghai the borrowers keep their own zone."""
    now = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
    choice = choose_zone(now, WINDOW)
    assert choice.zone == "Asia/Shanghai" and not choice.moved
    assert choice.local_time == dt.time(14, 0)


@pytest.mark.parametrize("hour", range(24))
def test_moved_zone_is_inside_the_window_with_margin(hour: int) -> None:
    """At any hour the chosen real zone's local time is inside the window by at least an hour."""
    now = dt.datetime(2026, 11, 28, hour, 30, tzinfo=dt.UTC)
    choice = choose_zone(now, WINDOW)
    local = now.astimezone(ZoneInfo(choice.zone)).time()
    assert dt.time(10, 0) <= local <= dt.time(19, 0)
    shanghai = now.astimezone(ZoneInfo("Asia/Shanghai")).time()
    assert choice.moved == (not dt.time(10, 0) <= shanghai <= dt.time(19, 0))


def test_choose_zone_refuses_naive_time() -> None:
    """A naive datetime could silently mean the wrong zone, so it is refused."""
    with pytest.raises(ValueError):
        choose_zone(dt.datetime(2026, 11, 28, 6, 0), WINDOW)


def test_strictest_window_intersects() -> None:
    """The demo window is the overlap of all strategies; disjoint windows are an error."""
    assert strictest_window([(dt.time(8), dt.time(21)), (dt.time(9), dt.time(20, 30))]) == (dt.time(9), dt.time(20, 30))
    with pytest.raises(ValueError):
        strictest_window([(dt.time(8), dt.time(9)), (dt.time(10), dt.time(11))])


def test_prepare_borrowers_sets_zone_and_consistent_due_dates() -> None:
    """Due dates follow overdue_days as of today (pre-due borrowers fall due in three days)."""
    records = [{"id": "a", "overdue_days": 0}, {"id": "b", "overdue_days": 12}]
    out = prepare_borrowers(records, "Europe/Berlin", dt.date(2026, 11, 28))
    assert [r["due_date"] for r in out] == ["2026-12-01", "2026-11-16"]
    assert {r["timezone"] for r in out} == {"Europe/Berlin"}
    assert records[0] == {"id": "a", "overdue_days": 0}  # the input is not modified


def test_percentile_is_nearest_rank() -> None:
    """p50/p95 are latencies that really occurred (nearest rank), and empty input gives None."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([300.0], 95) == 300.0
    assert percentile([], 50) is None


def test_summary_reads_store_records() -> None:
    """The summary takes outcome, promise, turns and voice-to-voice latency from the stored records."""
    turn = {"event": "utterance", "latency_ms": 310.0, "interrupted": False}
    calls = [
        {"borrower_id": "demo-01", "disposition": "answered", "recording": "r.wav", "record": {
            "recognizer": "sim", "end_reason": "completed",
            "outcome": {"disposition": "promise_to_pay", "ptp_date": "2026-12-04", "ptp_amount": 3000.0, "turns": 3},
            "turns": [
                {"event": "opening", "latency_ms": None}, turn, {**turn, "latency_ms": 420.0, "interrupted": True},
            ],
        }},
        {"borrower_id": "demo-12", "disposition": "answered", "record": {
            "recognizer": "sim", "end_reason": "no_input",
            "outcome": {"disposition": "no_response", "turns": 0}, "turns": []}},
    ]
    summary = summarize(calls, {"demo-01": "cooperative_promise", "demo-12": "silent"})
    assert [r.outcome for r in summary.rows] == ["promise_to_pay", "no_response"]
    assert summary.rows[0].promise == "2026-12-04 / 3,000.00"
    assert summary.rows[0].interrupted == 1
    assert summary.latencies_ms == [310.0, 420.0]
    assert summary.recognizers == {"sim"}
    text = format_summary(summary)
    assert "cooperative_promise" in text and "p50 310 ms, p95 420 ms" in text


def test_summary_reports_turns_per_engaged_conversation() -> None:
    """Engaged calls (identity confirmed, about the debt, not cut short) give the turns mean and distribution."""
    def call(bid: str, outcome: dict[str, object]) -> dict[str, object]:
        return {"borrower_id": bid, "disposition": "answered", "record": {"recognizer": "sim", "outcome": outcome,
                                                                          "turns": []}}
    calls = [
        call("d1", {"disposition": "promise_to_pay", "identity_confirmed": True, "turns": 5, "completed": True}),
        call("d2", {"disposition": "negotiation", "identity_confirmed": True, "turns": 7, "completed": True}),
        call("d3", {"disposition": "promise_to_pay", "identity_confirmed": True, "turns": 2, "completed": False}),
        call("d4", {"disposition": "third_party", "identity_confirmed": False, "turns": 2, "completed": True}),
    ]
    summary = summarize(calls, {})
    stats = summary.engaged_turns()
    assert (stats.conversations, stats.mean, stats.distribution) == (2, 6.0, {5: 1, 7: 1})
    assert "engaged conversations: 2, borrower turns mean 6.00" in format_summary(summary)
    assert summary.to_dict()["engaged_turns"]["distribution"] == {"5": 1, "7": 1}


@pytest.mark.integration
@pytest.mark.slow
def test_demo_runs_three_borrowers_end_to_end(demo_run: DemoRun) -> None:
    """`server.py demo --limit 3` calls three borrowers over SIP, stores them, skips the night one, says `sim`.

    The calls ran in the call-worker processes the banner names (more than one of them), never past the
    pool's free slots nor past a sim phone's four calls, and every sim phone and worker is gone afterwards.
    """
    done, tmp_path = demo_run.done, demo_run.out
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "('sim') recognizer is used because no Mandarin Vosk model is installed" in out
    assert "Call window (C1" in out
    assert "C1 held: demo-13" in out  # the borrower placed where it is night was never dialled
    phone_pids = [int(p) for p in re.findall(r"sim\.phone pid (\d+)", out)]
    assert len(phone_pids) == 3  # one sim phone per four of the three workers' twelve slots
    for pid in phone_pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie_or_other(pid, "sim.phone")
    banner = re.search(r"Call workers: 3 of 3 up in \d+ s \(pids ([\d, ]+);", out)
    assert banner, out[-3000:]
    worker_pids = {int(p) for p in banner.group(1).split(", ")}
    assert not worker_pids & set(phone_pids)
    (summary_file,) = tmp_path.glob("run-*/summary.json")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    calls = {c["borrower_id"]: c for c in summary["calls"]}
    assert set(calls) == {"demo-01", "demo-02", "demo-03"}
    assert all(c["disposition"] == "answered" for c in calls.values())
    assert calls["demo-01"]["outcome"] == "promise_to_pay" and calls["demo-01"]["promise"]
    assert summary["recognizers"] == ["sim"]
    assert summary["voice_to_voice_ms"]["turns"] >= 3
    stores = list(tmp_path.glob("run-*/campaigns.sqlite3"))
    assert len(stores) == 1
    workers = summary["workers"]
    ran_in = {int(pid) for pid in workers["calls_by_worker_pid"]}
    assert sum(workers["calls_by_worker_pid"].values()) == 3  # every stored call came back from a worker
    assert len(ran_in) >= 2 and ran_in <= worker_pids  # in more than one of the banner's worker processes
    assert workers["placements"] == 3 and workers["over_capacity"] == []
    assert workers["peak_in_use"] <= workers["slots"] == 12
    assert all(n <= 4 for n in workers["peak_by_trunk"].values())
    for pid in worker_pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie_or_other(pid, "cli.call_worker")


def _is_zombie_or_other(pid: int, program: str) -> bool:
    """A recycled pid that is no longer the demo's child (or a zombie) also counts as 'not left running'."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return program not in cmdline or state == "Z"


@pytest.mark.parametrize("hour", range(24))
def test_night_zone_is_outside_the_window(hour: int) -> None:
    """The compliance-check borrower always lands where it is at least an hour outside the window."""
    from cli.demo import choose_night_zone

    now = dt.datetime(2026, 11, 28, hour, 10, tzinfo=dt.UTC)
    choice = choose_night_zone(now, WINDOW)
    local = now.astimezone(ZoneInfo(choice.zone)).time()
    assert not dt.time(8, 0) <= local <= dt.time(21, 0)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


COUNTS = {"attempts": 3, "attempts_pending": 1, "dispositions": {"answered": 2}, "promises": 1}


def test_progress_rewrites_one_line_on_a_tty() -> None:
    """On a terminal every update rewrites the same line (carriage return, clear to end of line)."""
    from cli.demo import ProgressDisplay

    out = _Stream(tty=True)
    display = ProgressDisplay(out, total=12, started=0.0)
    for t in (0.5, 1.0, 1.5):
        display.update(t, COUNTS, in_flight=2, reached=3)
    display.close()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1
    assert "borrowers called 3/12" in text and "promises 1" in text


def test_progress_prints_plain_lines_only_on_change_when_not_a_tty() -> None:
    """In a log every line stands alone, and an unchanged state is not repeated more than every 10 s."""
    from cli.demo import ProgressDisplay

    out = _Stream(tty=False)
    display = ProgressDisplay(out, total=12, started=0.0)
    for step in range(40):  # 20 s of half-second updates, nothing changing
        display.update(step * 0.5, COUNTS, in_flight=2, reached=3)
    display.update(20.5, {**COUNTS, "promises": 2}, in_flight=1, reached=4)
    display.update(21.0, {**COUNTS, "promises": 3}, in_flight=0, reached=4)  # too soon to print...
    display.close()  # ...so closing prints it: the final state is never lost
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("[  0.0s] borrowers called 3/12")  # the first state at once
    assert [line[:8] for line in lines] == ["[  0.0s]", "[ 10.0s]", "[ 20.5s]", "[ 21.0s]"]
    assert "promises 3" in lines[-1]

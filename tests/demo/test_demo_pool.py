"""The demo's call-worker pool: its run config, the borrowers split over the sim phones, and its slot watch."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import task

from campaign.dialer import AttemptRequest
from cli.demo import DEMO_DIR
from cli.demo_pool import WatchedPool, demo_server_toml, dump_toml, merge_progress, phones_for, split_borrowers
from config.server_config import load_server_config
from config.workers_config import WorkersSettings
from telemetry.metrics import Registry
from telephony.dispositions import EndpointBusy

ROOT = Path(__file__).resolve().parents[2]


def _worker_fakes() -> Any:
    """tests/workers/fakes.py (fake worker processes speaking real AMP), loaded under a name of its own."""
    if "demo_worker_fakes" in sys.modules:
        return sys.modules["demo_worker_fakes"]
    spec = importlib.util.spec_from_file_location("demo_worker_fakes", ROOT / "tests" / "workers" / "fakes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_worker_fakes"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_phones_cover_the_pool_slots_four_calls_each() -> None:
    """One sim phone per four call slots, rounded up, and at least one."""
    assert [phones_for(n) for n in (1, 4, 5, 8, 12, 13)] == [1, 1, 2, 2, 3, 4]


def test_split_borrowers_round_robin_keeps_every_borrower_once() -> None:
    """12 borrowers over 3 campaigns: 4 each, in order, none lost or doubled; parts < 1 is refused."""
    records = [{"id": f"demo-{n:02d}"} for n in range(1, 13)]
    groups = split_borrowers(records, 3)
    assert [len(g) for g in groups] == [4, 4, 4]
    assert [r["id"] for r in groups[0]] == ["demo-01", "demo-04", "demo-07", "demo-10"]
    assert sorted(r["id"] for g in groups for r in g) == [r["id"] for r in records]
    assert split_borrowers(records[:2], 3)[2] == []
    with pytest.raises(ValueError):
        split_borrowers(records, 0)


def test_merge_progress_adds_counts_and_tables() -> None:
    """Several campaigns' progress add up: numbers summed, dispositions and refusals summed per key."""
    merged = merge_progress([
        {"attempts": 2, "attempts_pending": 1, "promises": 1, "dispositions": {"answered": 2},
         "refusals_by_rule": {"C1": 1}},
        {"attempts": 3, "attempts_pending": 0, "promises": 0, "dispositions": {"answered": 1, "busy": 2},
         "refusals_by_rule": {}},
    ])
    assert merged == {"attempts": 5, "attempts_pending": 1, "promises": 1,
                      "dispositions": {"answered": 3, "busy": 2}, "refusals_by_rule": {"C1": 1}}


def test_dump_toml_round_trips_through_tomllib() -> None:
    """What dump_toml writes reads back identical: tables, nested tables, arrays of tables, escapes, lists."""
    data = {"top": 1, "sip": {"port": 0, "ua": 'a "quoted" \\ name\n张'}, "asr": {"vad": {"on": True, "x": 0.5}},
            "media": {"codecs": ["PCMA", "PCMU"]}, "trunks": [{"name": "a", "n": 4}, {"name": "b", "n": 2}]}
    assert tomllib.loads(dump_toml(data)) == data


def test_run_config_has_one_trunk_per_phone_and_the_run_paths(tmp_path: Path) -> None:
    """The run's server.toml loads as a server config: trunk k points at phone k (four calls), run folder paths."""
    token = "tok-0123456789abcdef"
    path, trunks = demo_server_toml(DEMO_DIR / "server.toml", tmp_path, [40001, 40002, 40003], "whisper", token)
    config = load_server_config(path)
    assert trunks == ["sim-1", "sim-2", "sim-3"] == [t.name for t in config.trunks]
    assert [t.proxy for t in config.trunks] == [f"sip:127.0.0.1:{p}" for p in (40001, 40002, 40003)]
    assert all(t.max_concurrent_calls == 4 for t in config.trunks)
    assert config.asr.recognizer == "whisper" and config.http.tokens == (token,)
    assert config.store.path == (tmp_path / "campaigns.sqlite3").resolve()
    assert Path(config.calls.recording_dir) == (tmp_path / "recordings").resolve()
    assert config.campaign.default_trunk == "sim-1"
    assert config.workers.count == 3 and config.workers.calls_per_worker == 4


def _request(n: int, trunk: str) -> AttemptRequest:
    return AttemptRequest(attempt_id=f"att-{n}", target="13900000001", trunk=trunk, caller_id=None, max_seconds=60,
                          record_path=None, borrower={"id": f"demo-{n}"}, segment=None)


def test_watched_pool_notes_each_placement_and_flags_none_within_capacity() -> None:
    """Twelve placements on 3 x 4 slots over 3 four-call trunks: spread over 3 workers, peak 12, nothing over."""
    fakes = _worker_fakes()
    clock = task.Clock()
    spawner = fakes.FakeSpawner(clock)
    pool = WatchedPool(WorkersSettings(count=3), clock, spawner, metrics=Registry(), log_sink=lambda _b: None,
                       trunk_limits={"sim-1": 4, "sim-2": 4, "sim-3": 4})
    pool.start()
    clock.advance(0)
    for n in range(12):
        pool.place_attempt(_request(n, f"sim-{n % 3 + 1}"))
    clock.advance(0)
    watch = pool.watch
    assert watch.placements == 12 and watch.peak_in_use == 12 and watch.over_capacity == []
    assert watch.peak_by_trunk == {"sim-1": 4, "sim-2": 4, "sim-3": 4}
    assert sorted(watch.to_dict()["worker_pids"]) == [p.pid for p in spawner.processes]
    with pytest.raises(EndpointBusy):  # the pool itself still refuses a 13th call
        pool.place_attempt(_request(12, "sim-1"))
    assert watch.placements == 12
    spawner.processes[0].side.finish("att-0")
    clock.advance(0)
    assert pool.free_call_slots == 1 and watch._by_trunk["sim-1"] == 3


def test_watched_pool_flags_a_phone_pushed_past_its_four_calls() -> None:
    """Five calls on one four-call trunk are reported as over capacity, naming the trunk."""
    fakes = _worker_fakes()
    clock = task.Clock()
    pool = WatchedPool(WorkersSettings(count=2), clock, fakes.FakeSpawner(clock), metrics=Registry(),
                       log_sink=lambda _b: None, trunk_limits={"sim-1": 4})
    pool.start()
    clock.advance(0)
    for n in range(5):
        pool.place_attempt(_request(n, "sim-1"))
    assert pool.watch.over_capacity == ["trunk sim-1: 5 calls on a 4-call phone"]


@pytest.mark.parametrize("count", ["0", "7"])
def test_demo_refuses_a_worker_count_out_of_range_before_starting_anything(tmp_path: Path, count: str) -> None:
    """`demo --workers 0` (or 7: more trunks than a server may have) exits 2 and creates no run folder."""
    import server

    assert server.main(["demo", "--workers", count, "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()

"""The demo's call-worker pool: its run config, its borrowers split over the sim phones, its slot watch.

`server.py demo` runs the campaign the way `serve` does: a coordinator process (store, scheduler,
dialer, HTTP API) plus call-worker processes (`cli.call_worker`) that place the calls and run the
sessions. Workers read their settings from a server.toml file, so the demo writes its run's config
(the sim phones' real ports as trunks, the chosen recognizer, the run folder's store and recordings,
the dashboard token) into the run folder and starts coordinator and workers from that one file.

A pjsua2 process holds four calls (the wheel's PJSUA_MAX_CALLS), the simulated phones too, so the
demo starts one `sim.phone` per four call slots, declares each as a trunk of four channels and runs
one campaign per trunk (the dialer picks a trunk per campaign). Trunk limits then keep every phone
within its four calls, and the pool's free slots keep the workers within theirs; `SlotWatch`
records both at each placement so the summary (and its test) can show it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.pool import WorkerPool

PHONE_CALLS = 4  # calls one sim.phone process carries (the pjsua2 wheel's PJSUA_MAX_CALLS)


def phones_for(slots: int) -> int:
    """Sim phones needed so the pool's slots can all be in use at once (four calls per phone)."""
    return max(1, math.ceil(slots / PHONE_CALLS))


def split_borrowers(records: Sequence[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    """Round-robin: borrower i goes to campaign i mod parts, so every campaign gets a share of the personas."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    return [list(records[k::parts]) for k in range(parts)]


def merge_progress(counts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`store.progress` of several campaigns added up (numbers summed, per-key tables summed by key)."""
    out: dict[str, Any] = {}
    for one in counts:
        for key, value in one.items():
            if isinstance(value, dict):
                table = out.setdefault(key, {})
                for k, v in value.items():
                    table[k] = table.get(k, 0) + v
            elif isinstance(value, int | float):
                out[key] = out.get(key, 0) + value
    return out


def dump_toml(data: dict[str, Any]) -> str:
    """The subset of TOML a server.toml uses: tables, arrays of tables, strings, numbers, booleans, lists."""
    lines: list[str] = []
    for key, value in data.items():
        if not isinstance(value, dict) and not _is_table_list(value):
            lines.append(f"{key} = {_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines += _table([key], value)
        elif isinstance(value, list) and _is_table_list(value):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(path: list[str], table: dict[str, Any]) -> list[str]:
    lines = [f"\n[{'.'.join(path)}]"]
    lines += [f"{k} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            lines += _table([*path, k], v)
    return lines


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes (\" \\ \n \uXXXX) are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def demo_server_toml(
    base: Path, run_dir: Path, phone_ports: Sequence[int], recognizer: str, token: str,
) -> tuple[Path, list[str]]:
    """Write the run's server.toml (in `run_dir`) from the demo's; returns it and the trunk names, one per phone.

    The first `[[trunks]]` of the demo file is the template: trunk k is named `<name>-k` and points
    at phone k. Every other setting stays as the demo file has it.
    """
    data = tomllib.loads(base.read_text(encoding="utf-8"))
    template = data["trunks"][0]
    trunks = [{**template, "name": f"{template['name']}-{k + 1}", "proxy": f"sip:127.0.0.1:{port}",
               "max_concurrent_calls": min(PHONE_CALLS, int(template.get("max_concurrent_calls", PHONE_CALLS)))}
              for k, port in enumerate(phone_ports)]
    data["trunks"] = trunks
    data.setdefault("asr", {})["recognizer"] = recognizer
    data.setdefault("calls", {})["recording_dir"] = str((run_dir / "recordings").resolve())
    data.setdefault("store", {})["path"] = str((run_dir / "campaigns.sqlite3").resolve())
    data.setdefault("http", {})["tokens"] = [token]
    data.setdefault("campaign", {})["default_trunk"] = trunks[0]["name"]
    path = run_dir / "server.toml"
    path.write_text("# written by `server.py demo` for this run (from " + str(base) + ")\n" + dump_toml(data),
                    encoding="utf-8")
    return path, [t["name"] for t in trunks]


@dataclass
class SlotWatch:
    """What the pool was asked at each placement: free slots before it, slots in use after, per worker and trunk."""

    placements: int = 0
    peak_in_use: int = 0
    peak_by_trunk: dict[str, int] = field(default_factory=dict)
    over_capacity: list[str] = field(default_factory=list)  # each placement past a free slot, said in words
    worker_of_attempt: dict[str, int] = field(default_factory=dict)  # attempt id -> worker pid
    _by_trunk: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"placements": self.placements, "peak_in_use": self.peak_in_use,
                "peak_by_trunk": dict(sorted(self.peak_by_trunk.items())), "over_capacity": list(self.over_capacity),
                "worker_pids": sorted(set(self.worker_of_attempt.values()))}


class WatchedPool(WorkerPool):
    """The production `WorkerPool`, noting at each placement whether it had a free slot (see `SlotWatch`).

    It changes nothing about where or whether a call is placed; a placement the pool refuses
    (`EndpointBusy`) raises as before and is not counted.
    """

    def __init__(self, *args: Any, trunk_limits: dict[str, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch = SlotWatch()
        self.trunk_limits = dict(trunk_limits or {})

    def place_attempt(self, request: Any) -> Any:
        free_before = self.free_call_slots
        out = super().place_attempt(request)
        watch = self.watch
        watch.placements += 1
        if free_before < 1:
            watch.over_capacity.append(f"attempt {request.attempt_id} placed with {free_before} free slots")
        live = [w for w in self.workers if w.state in ("up", "draining")]
        in_use = sum(w.in_use for w in live)
        watch.peak_in_use = max(watch.peak_in_use, in_use)
        for worker in self.workers:
            if worker.in_use > worker.slots:
                watch.over_capacity.append(f"worker {worker.index}: {worker.in_use} calls on {worker.slots} slots")
            if request.attempt_id in worker.pending and worker.pid is not None:
                watch.worker_of_attempt[request.attempt_id] = worker.pid
        trunk = request.trunk or ""
        watch._by_trunk[trunk] = watch._by_trunk.get(trunk, 0) + 1
        watch.peak_by_trunk[trunk] = max(watch.peak_by_trunk.get(trunk, 0), watch._by_trunk[trunk])
        limit = self.trunk_limits.get(trunk)
        if limit is not None and watch._by_trunk[trunk] > limit:
            watch.over_capacity.append(f"trunk {trunk}: {watch._by_trunk[trunk]} calls on a {limit}-call phone")

        def ended(result: Any) -> Any:
            watch._by_trunk[trunk] -= 1
            return result

        out.addBoth(ended)
        return out


def settings_for(config: Any, count: int | None) -> Any:
    """The config's `[workers]` settings, with `--workers N` applied when given."""
    return config.workers if count is None else dataclasses.replace(config.workers, count=count)

"""Integration (issue 14): two `serve` nodes on one PostgreSQL behind Kamailio, sipp as the carrier.

The layout of docs/deploy.md on loopback, every part a real process: a PostgreSQL cluster (tests/pg_cluster.py),
Kamailio running the shipped deploy/kamailio/kamailio.cfg (tests/telephony/kamailio_edge.py), two nodes
(`serve --workers 2`, the `sim` recognizer, one trunk whose proxy is the edge's node side and whose `domain`
is the carrier), and sipp as the carrier: its callees answer and hang up after a second. A 100-borrower
campaign runs to completion; one coordinator is SIGKILLed mid-campaign; then the carrier calls our caller ID.
Everything checked is read back from PostgreSQL with psycopg, as an operator would.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kamailio_edge import CARRIER_IP, NODE_IP, OUR_NUMBER, kamailio_edge
from serve_harness import (
    ROOT,
    Served,
    daytime_zone,
    process_state,
    serve,
    start_campaign,
    stored_attempts,
    stored_rows,
    wait_for,
    worker_pids,
    write_config,
)
from sip_peers import SippPeer, free_udp_port, sipp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BORROWERS = 100
WORKERS = 2  # per node: each listens on [sip] port + index, all four in the edge's dispatcher list
SLOTS = WORKERS * 4
NODE_TIMEOUT_S = 3.0
RETRY_S = 6.0  # cluster_once: default_retry_minutes = 0.1, what a lost attempt waits for
TALK_MS = 1000  # the carrier's callee hangs up this long after answering
CALLBACK_PHONE = "13800138000"  # the From of tests/fixtures/sipp/uac_carrier_call.xml
# One answered call ends a borrower (max_attempts_total = 1: exhausted), so the campaign finishes after
# one call each; a lost attempt is retried after 6 s. Caps as the legal defaults (C2 3, C3 3/10).
STRATEGY = """
[strategies.cluster_once]          # tests/cluster: one call per borrower, a lost one retried after 6 s
window_start = "08:00"
window_end = "22:00"
max_unanswered_per_number_per_day = 3
max_attempts_per_borrower_per_day = 3
max_attempts_per_borrower_per_week = 10
max_attempts_total = 1
default_retry_minutes = 0.1
priority = { base = 0, per_overdue_day = 1.0, per_thousand_due = 0.5 }
"""
SESSION = """
[asr]
recognizer = "sim"
[workers]
calls_per_worker = 4
drain_seconds = 2
heartbeat_timeout_s = 10
"""


def _node_config(workdir: Path, name: str, sip_port: int, rtp_start: int, store_url: str, strategies: Path,
                 edge_uri: str, carrier: SippPeer) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return write_config(
        workdir, 0, max_concurrent=SLOTS, caller_id=OUR_NUMBER,
        extra=SESSION + f"[media]\nrtp_port_start = {rtp_start}\nrtp_port_range = 200\n",
        sip=f'bind_address = "{NODE_IP}"\nport = {sip_port}',
        store=f'url = "{store_url}"\nnode_id = "{name}"\nnode_timeout = {NODE_TIMEOUT_S}',
        campaign=f'strategies_file = "{strategies}"',
        route=f'proxy = "{edge_uri}"\ndomain = "{CARRIER_IP}:{carrier.port}"',
    )


def _invites(peer: SippPeer) -> dict[str, str]:
    """Call-ID -> the INVITE the carrier received (its -trace_msg log; retransmissions counted once)."""
    text = "".join(log.read_text(errors="replace") for log in peer.log_dir.glob("*_messages.log"))
    found: dict[str, str] = {}
    for message in re.split(r"^-{20,}.*$", text, flags=re.MULTILINE):
        if "message received" in message and re.search(r"^INVITE sip:", message, re.MULTILINE):
            call_id = re.search(r"^Call-ID:\s*(\S+)", message, re.MULTILINE | re.IGNORECASE)
            if call_id:
                found.setdefault(call_id.group(1), message)
    return found


def _campaign_state(served: Served, campaign_id: str) -> str:
    status, body = served.api("GET", f"/api/campaigns/{campaign_id}")
    assert status == 200, body
    return str(body["state"])


def test_two_nodes_share_a_campaign_survive_a_killed_node_and_answer_a_callback(
    tmp_path: Path, pg_cluster: Any,
) -> None:
    """100 borrowers over two nodes through the edge: each borrower dialled once at a time, within C2/C3, by
    both nodes; a SIGKILLed node's workers exit, its calls become `lost` and are redialled by the survivor no
    sooner than the retry spacing, the campaign finishes; a carrier call to our caller ID gets an inbound
    session on the survivor."""
    started = time.monotonic()
    url = pg_cluster.new_database()
    zone = daytime_zone()
    strategies = tmp_path / "strategies.toml"
    strategies.write_text((ROOT / "config" / "strategies.toml").read_text(encoding="utf-8") + STRATEGY,
                          encoding="utf-8")
    ports = {"node-a": free_udp_port(), "node-b": free_udp_port()}  # each with the next port free too
    workers = [f"sip:{NODE_IP}:{port + i}" for port in ports.values() for i in range(WORKERS)]
    with ExitStack() as stack:
        carrier = stack.enter_context(sipp("uas_carrier_hangs_up.xml", "-trace_msg", host=CARRIER_IP,
                                           params={"talk_ms": str(TALK_MS)}))
        edge = stack.enter_context(kamailio_edge(tmp_path / "edge", carrier_port=carrier.port, nodes=workers,
                                                 ping_s=1, fr_timeout_ms=1000))
        nodes: dict[str, Served] = {}
        rtp = free_udp_port(pairs=200)  # 400 free ports: 200 for each node's workers
        for i, (name, port) in enumerate(ports.items()):
            config = _node_config(tmp_path / name, name, port, rtp + 200 * i, url, strategies, edge.int_uri, carrier)
            nodes[name] = stack.enter_context(serve(tmp_path / name, config, ("--workers", str(WORKERS)),
                                                    store=url))
        survivor, victim = nodes["node-a"], nodes["node-b"]
        for served in nodes.values():
            assert f"workers {WORKERS} call slots {SLOTS}" in served.banner, served.banner
        up_at = time.monotonic()

        # A second campaign, never started, holds the borrower who will call back (the desk looks callers
        # up in campaigns that are not finished).
        status, callbacks = victim.api("POST", "/api/campaigns", {"name": "callbacks", "timezone": zone})
        assert status == 201, callbacks
        line = json.dumps({"id": "K900", "name": "张伟", "phone": CALLBACK_PHONE, "amount_due": 1200,
                           "overdue_days": 10, "due_date": "2026-11-16", "product": "信用贷",
                           "creditor": "示例消费金融", "risk_score": 650, "timezone": zone}, ensure_ascii=False)
        status, report = victim.api("POST", f"/api/campaigns/{callbacks['id']}/borrowers?filename=k.jsonl",
                                    raw=line.encode(), content_type="application/x-ndjson")
        assert status == 200 and report["inserted"] == 1, report

        cid = start_campaign(survivor, zone, BORROWERS, 2 * SLOTS, strategy="cluster_once")
        campaign_at = time.monotonic()

        def victim_busy() -> bool:
            rows = stored_attempts(url)
            done = [a for a in rows if a["state"] == "completed"]
            in_flight = [a for a in rows if a["state"] == "pending" and a["node_id"] == "node-b"]
            return len(done) >= 25 and len(in_flight) >= 3

        wait_for(victim_busy, 40, step=0.1)
        victim_workers = worker_pids(victim)
        assert len(victim_workers) == WORKERS
        os.kill(victim.proc.pid, signal.SIGKILL)  # the coordinator only: its workers must notice and exit
        killed_at = time.time()
        in_flight_at_kill = {a["id"] for a in stored_attempts(url)
                             if a["state"] == "pending" and a["node_id"] == "node-b"}
        for pid in victim_workers:  # gone, or a zombie left for init to reap
            wait_for(lambda pid=pid: process_state(pid) in ("gone", "Z", "X"), 10, step=0.1)
        workers_gone_s = time.time() - killed_at

        wait_for(lambda: _campaign_state(survivor, cid) == "finished", 60, step=0.5)
        campaign_s = time.monotonic() - campaign_at

        # The carrier calls our caller ID from the callback borrower's number, through the edge.
        with sipp("uac_carrier_call.xml", "-s", OUR_NUMBER, "-recv_timeout", "10000", calls=1, host=CARRIER_IP,
                  remote=edge.ext_hostport) as caller:
            assert caller.wait(20) == 0, caller.output()
        inbound = wait_for(lambda: [a for a in stored_attempts(url)
                                    if a["direction"] == "inbound" and a["state"] == "completed"], 15)
        received = _invites(carrier)
        invites = set(received)

    attempts = [a for a in stored_attempts(url) if a["campaign_id"] == cid]
    calls = stored_rows(url, "calls", "created_at")
    borrowers = [b for b in stored_rows(url, "borrowers", "borrower_id") if b["campaign_id"] == cid]
    total_s = time.monotonic() - started

    # every attempt stored once, none left open; both nodes dialled
    assert len({a["id"] for a in attempts}) == len(attempts)
    assert {a["state"] for a in attempts} <= {"completed", "lost"}, {a["state"] for a in attempts}
    assert {a["direction"] for a in attempts} == {"outbound"}
    assert {a["node_id"] for a in attempts if a["state"] == "completed"} == {"node-a", "node-b"}
    # the campaign finished: every borrower reached once (one answered call each), nobody left to dial
    assert len(borrowers) == BORROWERS and {b["status"] for b in borrowers} == {"exhausted"}, \
        {b["status"] for b in borrowers}
    completed = [a for a in attempts if a["state"] == "completed"]
    assert {a["disposition"] for a in completed} == {"answered"}
    by_borrower: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in attempts:
        by_borrower[a["borrower_id"]].append(a)
    assert len(by_borrower) == BORROWERS
    for borrower_id, rows in by_borrower.items():
        rows.sort(key=lambda a: a["started_at"])
        assert sum(a["state"] == "completed" for a in rows) == 1, (borrower_id, rows)
        # never two attempts at once (claim_attempt across nodes), within C3 per day and C2 per number
        for before, after in itertools.pairwise(rows):
            assert after["started_at"] >= before["completed_at"], (borrower_id, rows)
        assert len(rows) <= 3, (borrower_id, rows)
        assert sum(a["disposition"] != "answered" for a in rows if a["phone"] == rows[0]["phone"]) <= 3
    # the calls: one per completed attempt; the carrier saw each of those INVITEs once, and at most one for
    # each lost attempt (a lost call may have been killed before its INVITE left)
    assert sorted(c["attempt_id"] for c in calls if c["attempt_id"] in {a["id"] for a in completed}) == \
        sorted(a["id"] for a in completed)
    assert {a["call_id"] for a in completed} <= invites
    lost = [a for a in attempts if a["state"] == "lost"]
    assert len(completed) <= len(invites) <= len(completed) + len(lost)
    for invite in received.values():  # the carrier sees the edge only, and the request names the carrier
        uri = rf"^INVITE sip:\+861380013\d{{4}}@{CARRIER_IP}:{carrier.port} SIP/2.0$"
        assert re.search(uri, invite, re.MULTILINE), invite
        top_via = re.search(r"^Via:\s*(.*)$", invite, re.MULTILINE | re.IGNORECASE)
        assert top_via and top_via.group(1).startswith(f"SIP/2.0/UDP {edge.ext_hostport};"), invite
    # the killed node: its calls in flight are lost (closed by the survivor after node_timeout), redialled
    # by the survivor no sooner than the retry spacing after that
    assert lost, "the kill caught no call in flight"
    assert {a["id"] for a in lost} == in_flight_at_kill
    assert {(a["node_id"], a["disposition"]) for a in lost} == {("node-b", "unknown")}
    for attempt in lost:
        assert attempt["completed_at"] >= killed_at + NODE_TIMEOUT_S - 1.5, attempt  # heartbeats every 1 s
        later = [a for a in by_borrower[attempt["borrower_id"]] if a["started_at"] > attempt["started_at"]]
        assert later, attempt
        assert later[0]["node_id"] == "node-a"
        assert later[0]["started_at"] >= attempt["completed_at"] + RETRY_S - 0.5, (attempt, later[0])
    assert not [a for a in attempts if a["node_id"] == "node-b" and a["started_at"] > killed_at]

    assert [r for r in stored_rows(url, "refusals", "id") if r["campaign_id"] == cid] == []  # no cap was reached

    # the callback: an inbound attempt of K900 on the surviving node, its call stored
    [callback] = inbound
    assert (callback["borrower_id"], callback["reason"], callback["node_id"], callback["disposition"]) == (
        "K900", "inbound", "node-a", "answered"), callback
    assert callback["phone"] == f"+86{CALLBACK_PHONE}"
    [call] = [c for c in calls if c["attempt_id"] == callback["id"]]
    assert call["borrower_id"] == "K900"
    print(f"nodes up in {up_at - started:.1f} s, campaign {campaign_s:.1f} s, {len(attempts)} attempts "
          f"({len(lost)} lost), killed node's workers gone in {workers_gone_s:.1f} s, whole test {total_s:.1f} s")

"""Incoming calls: refused by default (486 from a trunk, 403 from elsewhere), or handed to the hook."""

from __future__ import annotations

from typing import Any

import pjsua2 as pj
import pytest
from reactor_wait import spin
from sip_peers import sipp

pytestmark = pytest.mark.integration


def _run_caller(endpoint: Any, code: str) -> int:
    with sipp("uac_expect_final.xml", calls=1, params={"code": code},
              remote=f"127.0.0.1:{endpoint.local_port}") as caller:
        for _ in range(200):
            if caller.proc.poll() is not None:
                break
            spin(0.02)
        return caller.proc.wait(5)


def test_incoming_call_is_refused_by_default(endpoint: Any) -> None:
    """An outbound-only server answers an INVITE from a non-trunk address (no trunks here) with 403, never ringing."""
    assert _run_caller(endpoint, "403") == 0


def test_incoming_call_hook_decides(endpoint: Any) -> None:
    """With on_incoming_call set, the hook gets the call (here it declines with 603) on the pjsua2 thread."""
    seen: list[int] = []

    def decline(account: pj.Account, call_id: int) -> None:
        seen.append(call_id)
        call = pj.Call(account, call_id)
        prm = pj.CallOpParam(True)
        prm.statusCode = 603
        call.hangup(prm)

    endpoint.on_incoming_call = decline
    try:
        assert _run_caller(endpoint, "603") == 0
    finally:
        endpoint.on_incoming_call = None
    assert len(seen) == 1

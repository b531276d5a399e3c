"""QA replay offers a transfer only where the live call could have transferred (C9)."""

from __future__ import annotations

import dataclasses

from config.server_config import load_server_config
from qa.replay import _agent_was_available
from session.record import CallRecord


def _record(trunk: str | None) -> CallRecord:
    return CallRecord(
        call_id="c1", borrower_id="B1", attempt_id="a1", trunk=trunk, script_set=None, disposition="answered",
        sip_code=200, sip_reason="OK", invite_sent_at=0.0, ringing_at=None, answered_at=1.0, ended_at=2.0,
        hangup_by="bot", end_reason="dialogue_end", recording=None, outcome=None,
    )


def test_replay_knows_whether_the_live_trunk_had_an_agent() -> None:
    """No agent_uri on the live call's trunk: the replayed dialogue must not transfer; with one it may."""
    config = load_server_config()
    without = dataclasses.replace(config, trunks=tuple(dataclasses.replace(t, agent_uri=None) for t in config.trunks))
    first = without.trunks[0]
    with_agent = dataclasses.replace(without, trunks=(dataclasses.replace(first, agent_uri="sip:agents@127.0.0.1"),
                                                      *without.trunks[1:]))
    assert not _agent_was_available(without, _record(first.name))
    assert not _agent_was_available(without, None)
    assert _agent_was_available(with_agent, _record(first.name))
    assert _agent_was_available(with_agent, None)  # call unknown: any trunk with an agent
    assert not _agent_was_available(with_agent, _record("another-trunk"))

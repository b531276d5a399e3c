"""Trunks against real sipp peers: digest registration with refresh, refused credentials, IP-auth routing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from reactor_wait import run_until, spin
from sip_config import make_config
from sip_peers import SippPeer, sipp

from config.server_config import TrunkSettings
from telephony.dispositions import DialFailure
from telephony.endpoint import RegistrationFailed, SipEndpoint
from telephony.events import CallEnded, RegistrationState

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trunked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SipEndpoint, list[RegistrationState]]]:
    from twisted.internet import reactor

    with ExitStack() as stack:
        good: SippPeer = stack.enter_context(sipp("registrar_digest.xml", params={"expires": "7"}))
        bad: SippPeer = stack.enter_context(sipp("registrar_digest.xml", params={"expires": "7"}))
        far: SippPeer = stack.enter_context(
            sipp("uas_trunk.xml", params={"number": "13800138000", "caller": "02150001234"})
        )
        campaign_far: SippPeer = stack.enter_context(
            sipp("uas_trunk.xml", "-trace_msg", params={"number": "13800138001", "caller": "95533001"})
        )
        _CAMPAIGN_PEER[:] = [campaign_far]
        trunks = (
            TrunkSettings(name="reg-ok", proxy=f"sip:127.0.0.1:{good.port}", registrar=f"sip:127.0.0.1:{good.port}",
                          username="4000", password="secret", caller_id="4000", register_expires_s=60),
            TrunkSettings(name="reg-bad", proxy=f"sip:127.0.0.1:{bad.port}", registrar=f"sip:127.0.0.1:{bad.port}",
                          username="4000", password="wrong", caller_id="4000", register_expires_s=60),
            TrunkSettings(name="ip", proxy=f"sip:127.0.0.1:{far.port}", caller_id="02150001234",
                          agent_uri=f"sip:agents@127.0.0.1:{far.port}"),
            TrunkSettings(name="ip-campaign", proxy=f"sip:127.0.0.1:{campaign_far.port}", caller_id="02150001234"),
        )
        ep = SipEndpoint(make_config(Path(tmp_path_factory.mktemp("trunks")), trunks=trunks), reactor)
        states: list[RegistrationState] = []
        ep.add_registration_listener(states.append)
        run_until(ep.start())
        try:
            yield ep, states
        finally:
            run_until(ep.stop())


def test_digest_registration_succeeds_and_refreshes(trunked: tuple[SipEndpoint, list[RegistrationState]]) -> None:
    """REGISTER is challenged (401), answered with digest credentials (200), and refreshed before the lease ends."""
    ep, states = trunked
    first = run_until(ep.registered("reg-ok"), 10)
    assert first.registered and first.code == 200 and first.expires_s <= 7
    for _ in range(80):
        if len([s for s in states if s.trunk == "reg-ok" and s.code == 200]) >= 2:
            break
        spin(0.1)
    assert len([s for s in states if s.trunk == "reg-ok" and s.code == 200]) >= 2


def test_refused_credentials_report_the_sip_code(trunked: tuple[SipEndpoint, list[RegistrationState]]) -> None:
    """Wrong password: the registrar answers 403 and the failure names the trunk and the code; dialing refuses."""
    ep, _ = trunked
    with pytest.raises(RegistrationFailed) as info:
        run_until(ep.registered("reg-bad"), 10)
    assert info.value.state.code == 403
    assert "reg-bad" in str(info.value) and "403" in str(info.value)
    with pytest.raises(DialFailure) as dial:
        run_until(ep.dial("13800138000", trunk="reg-bad"))
    assert dial.value.disposition == "trunk_error" and dial.value.sip_code == 403


def test_ip_trunk_routes_number_with_caller_id(trunked: tuple[SipEndpoint, list[RegistrationState]]) -> None:
    """An IP-authenticated trunk: the INVITE for the bare number reaches the far end with our caller ID, no REGISTER."""
    ep, _ = trunked
    assert run_until(ep.registered("ip")).registered
    call: Any = run_until(ep.dial("138 0013 8000", trunk="ip"), 8)
    assert (call.trunk, call.agent_uri) == ("ip", f"sip:agents@127.0.0.1:{far_port(ep)}")  # transfer() target
    ended: CallEnded = run_until(call.hangup(), 5)
    assert ended.hangup_by == "bot"


def test_campaign_caller_id_replaces_the_trunks_in_from(
    trunked: tuple[SipEndpoint, list[RegistrationState]],
) -> None:
    """dial(caller_id=...) puts the campaign's number in the From user part; the far end answers only that one."""
    ep, _ = trunked
    call: Any = run_until(ep.dial("13800138001", trunk="ip-campaign", caller_id="95533001"), 8)
    ended: CallEnded = run_until(call.hangup(), 5)
    assert ended.hangup_by == "bot"
    [invite] = _received_invites(call.call_id)
    from_line = next(line for line in invite.splitlines() if line.lower().startswith("from:"))
    assert "<sip:95533001@127.0.0.1>" in from_line or "sip:95533001@127.0.0.1;" in from_line, from_line


def test_unusable_caller_id_is_refused_before_any_sip(trunked: tuple[SipEndpoint, list[RegistrationState]]) -> None:
    """A caller ID with URI syntax in it fails with ValueError and no call slot is taken."""
    ep, _ = trunked
    free = ep.free_call_slots
    with pytest.raises(ValueError, match="caller ID"):
        run_until(ep.dial("13800138001", trunk="ip-campaign", caller_id="9553@evil.example"))
    assert ep.free_call_slots == free


def test_unknown_trunk_is_a_clear_error(trunked: tuple[SipEndpoint, list[RegistrationState]]) -> None:
    """Dialing through a trunk that is not configured fails with the list of known trunks."""
    ep, _ = trunked
    with pytest.raises(ValueError, match="reg-ok"):
        run_until(ep.dial("13800138000", trunk="nope"))


def far_port(ep: SipEndpoint) -> int:
    return int(ep.config.trunk("ip").proxy.rsplit(":", 1)[1])


_CAMPAIGN_PEER: list[SippPeer] = []


def _received_invites(call_id: str) -> list[str]:
    """INVITEs of one call as the caller-ID peer received them (its -trace_msg log)."""
    text = "".join(log.read_text(errors="replace") for log in _CAMPAIGN_PEER[0].log_dir.glob("*_messages.log"))
    messages = re.split(r"^-{20,}.*$", text, flags=re.MULTILINE)
    return [m for m in messages if "message received" in m and "\nINVITE sip:" in m and f"Call-ID: {call_id}" in m]

"""Parsers for raw SIP text and the SIP-code -> disposition table, on captured and broken fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.dispositions import DISPOSITIONS, disposition_for
from telephony.sip_text import check_caller_id, parse_dtmf_relay, parse_request

SIP_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sip"


def load(name: str) -> str:
    return (SIP_FIXTURES / name).read_bytes().decode("utf-8")


def test_dtmf_relay_info_parses() -> None:
    """A captured INFO with application/dtmf-relay yields its content type and the digit with duration."""
    request = parse_request(load("info_dtmf_relay.txt"))
    assert request.method == "INFO" and request.content_type == "application/dtmf-relay"
    relay = parse_dtmf_relay(request.body)
    assert (relay.digit, relay.duration_ms) == ("5", 160)


def test_compact_headers_and_utf8_body() -> None:
    """Compact header names (c:, l:) are understood and Content-Length counts UTF-8 bytes."""
    request = parse_request(load("info_sim_transcript_compact.txt"))
    assert request.content_type == "application/x-sim-transcript"
    assert request.body == "我下周五还款\r\n"


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("info_truncated_body.txt", "Content-Length 400"),
        ("info_header_without_colon.txt", "malformed SIP header"),
        ("not_sip.txt", "not a SIP request line"),
    ],
)
def test_broken_requests_raise_precise_errors(fixture: str, message: str) -> None:
    """Truncated bodies, headers without a colon and non-SIP text are refused with a reason."""
    with pytest.raises(ValueError, match=message):
        parse_request(load(fixture))


def test_dtmf_relay_bodies() -> None:
    """Signal 10/11 mean * and #; an out-of-range signal or missing Signal line is an error."""
    assert parse_dtmf_relay("Signal=10\r\n").digit == "*"
    assert parse_dtmf_relay("signal = 11").digit == "#"
    with pytest.raises(ValueError, match="not a DTMF digit"):
        parse_dtmf_relay(load("dtmf_relay_bad_signal.txt"))
    with pytest.raises(ValueError, match="no Signal"):
        parse_dtmf_relay("Duration=160")
    with pytest.raises(ValueError, match="Duration"):
        parse_dtmf_relay("Signal=1\nDuration=long")


@pytest.mark.parametrize(
    ("code", "disposition"),
    [
        (200, "answered"), (486, "busy"), (600, "busy"), (408, "no_answer"), (480, "no_answer"),
        (603, "rejected"), (404, "invalid_number"), (484, "invalid_number"), (410, "invalid_number"),
        (500, "trunk_error"), (503, "trunk_error"), (401, "trunk_error"), (403, "trunk_error"),
        (407, "trunk_error"), (487, "canceled"), (None, "trunk_error"), (0, "trunk_error"),
    ],
)
def test_sip_codes_map_to_the_issue_dispositions(code: int | None, disposition: str) -> None:
    """Each SIP outcome named in the issue lands on its disposition; unknown outcomes are trunk errors."""
    assert disposition_for(code) == disposition
    assert disposition in DISPOSITIONS


@pytest.mark.parametrize("value", ["95533001", "+862150001234", "  4000 ", "bot.cid-2_x", "9" * 40])
def test_usable_caller_ids_are_accepted_trimmed(value: str) -> None:
    """Numbers (optionally +) and plain SIP user names are usable as the From user, surrounding spaces trimmed."""
    assert check_caller_id(value) == value.strip()


@pytest.mark.parametrize("value", ["", "   ", "955 330 01", "9553@evil.example", "<sip:9553>", "95;x=1", "9" * 41])
def test_unusable_caller_ids_are_refused(value: str) -> None:
    """Spaces inside, URI syntax, parameters, empty or over 40 characters: ValueError naming the caller ID."""
    with pytest.raises(ValueError, match="caller ID"):
        check_caller_id(value)


def test_invite_parties_reads_the_caller_and_the_dialled_number() -> None:
    """From user = the caller's number, request-URI user = our caller ID; display names and params are ignored."""
    from telephony.sip_text import invite_parties

    invite = ("INVITE sip:02150001234@10.0.0.5:5060;user=phone SIP/2.0\r\n"
              "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
              'From: "Zhang" <sip:+8613800138000@10.0.0.1;user=phone>;tag=a1\r\n'
              "To: <sip:02150001234@10.0.0.5>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    parties = invite_parties(invite)
    assert (parties.caller, parties.dialed) == ("+8613800138000", "02150001234")
    anonymous = invite.replace("<sip:+8613800138000@10.0.0.1;user=phone>", "<sip:10.0.0.1>")
    assert invite_parties(anonymous).caller == ""
    with pytest.raises(ValueError, match="expected an INVITE"):
        invite_parties(invite.replace("INVITE sip:", "OPTIONS sip:", 1))

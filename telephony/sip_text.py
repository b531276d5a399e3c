"""Small parsers for SIP text that pjsua2 hands us raw: INFO requests and their bodies.

pjsip parses and validates the messages it routes; what reaches us here is the whole text of a
request already accepted by pjsip, whose *body* pjsip does not interpret. Parsers raise precise
`ValueError`s; the caller (the pjsua2 callback edge) logs and drops, so a bad body never ends a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DTMF_RELAY = "application/dtmf-relay"
DTMF_PLAIN = "application/dtmf"
_DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class SipRequestText:
    method: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        compact = _COMPACT.get(wanted)
        for key, value in self.headers:
            k = key.lower()
            if k == wanted or (compact is not None and k == compact):
                return value
        return None

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower case; '' when the request has no body type."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()


_TOKEN = re.compile(r"[A-Za-z0-9!%'*+\-.^_`|~]+")
_COMPACT = {"content-type": "c", "content-length": "l", "call-id": "i", "from": "f", "to": "t"}


def parse_request(text: str) -> SipRequestText:
    """Split a whole SIP request into method, headers and body (Content-Length is honoured)."""
    if not text:
        raise ValueError("empty SIP message")
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        head, sep, body = text.partition("\n\n")
        if not sep:
            raise ValueError("SIP message has no blank line between headers and body")
    lines = head.replace("\r\n", "\n").split("\n")
    request_line = lines[0].split()
    if len(request_line) != 3 or not request_line[2].startswith("SIP/"):
        raise ValueError(f"not a SIP request line: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name.strip()):
            raise ValueError(f"malformed SIP header line: {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    message = SipRequestText(request_line[0].upper(), tuple(headers), body)
    length = message.header("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise ValueError(f"Content-Length is not a number: {length!r}") from None
        raw = body.encode("utf-8")
        if n < 0 or n > len(raw):
            raise ValueError(f"Content-Length {n} but the body has {len(raw)} bytes")
        body = raw[:n].decode("utf-8", errors="replace")
        message = SipRequestText(message.method, message.headers, body)
    return message


@dataclass(frozen=True)
class DtmfRelay:
    digit: str
    duration_ms: int | None


def parse_dtmf_relay(body: str) -> DtmfRelay:
    """`Signal=5\\r\\nDuration=160` (application/dtmf-relay) -> digit and duration."""
    fields: dict[str, str] = {}
    for line in body.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise ValueError(f"dtmf-relay line without '=': {line[:40]!r}")
        fields[key.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise ValueError("dtmf-relay body has no Signal line")
    digit = fields["signal"].upper()
    if digit == "10":
        digit = "*"
    elif digit == "11":
        digit = "#"
    if len(digit) != 1 or digit not in _DTMF_DIGITS:
        raise ValueError(f"dtmf-relay Signal is not a DTMF digit: {fields['signal']!r}")
    duration: int | None = None
    if "duration" in fields:
        try:
            duration = int(fields["duration"])
        except ValueError:
            raise ValueError(f"dtmf-relay Duration is not a number: {fields['duration']!r}") from None
        if duration < 0:
            raise ValueError(f"dtmf-relay Duration is negative: {duration}")
    return DtmfRelay(digit, duration)


_CALLER_ID = re.compile(r"\+?[0-9A-Za-z._-]{1,40}")


def check_caller_id(value: str) -> str:
    """A caller ID as the From user part: digits (optionally +) or a plain SIP user name, 1-40 characters.

    Refused rather than escaped: a caller ID with spaces or URI syntax is a typo that a carrier
    would reject or, worse, show garbled to the borrower.
    """
    cleaned = value.strip()
    if not _CALLER_ID.fullmatch(cleaned):
        raise ValueError(
            f"caller ID {value!r} is not usable as a SIP From user: expected 1-40 digits (optionally after +)"
            " or letters, digits, '.', '_', '-'"
        )
    return cleaned


_URI_USER = re.compile(r"sips?:([^@;>\s:]+)@", re.IGNORECASE)


def uri_user(uri_or_header: str) -> str:
    """User part of the first SIP URI in a request line or a From/To header ('' when it has none).

    `"Zhang" <sip:+8613800138000@10.0.0.1;user=phone>;tag=1` -> `+8613800138000`. Percent escapes stay
    as they are: a caller number with any is not one we know.
    """
    match = _URI_USER.search(uri_or_header)
    return match.group(1) if match else ""


@dataclass(frozen=True)
class InviteParties:
    """Who an INVITE is from and which number it dialled (the request-URI user: our caller ID)."""

    caller: str
    dialed: str


def invite_parties(text: str) -> InviteParties:
    """Caller (From user) and dialled number (request-URI user) of a whole INVITE; ValueError if not one."""
    request = parse_request(text)
    if request.method != "INVITE":
        raise ValueError(f"expected an INVITE, got {request.method}")
    first_line = text.split("\n", 1)[0]
    return InviteParties(caller=uri_user(request.header("from") or ""), dialed=uri_user(first_line))

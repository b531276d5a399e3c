"""How a dial attempt ended at the SIP level, as the campaign and the call record see it.

The mapping from SIP codes lives here, in one table, because the dialer's retry policy and the
compliance counters (C2: unanswered attempts) depend on it being the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ANSWERED: Final = "answered"
BUSY: Final = "busy"
NO_ANSWER: Final = "no_answer"
REJECTED: Final = "rejected"
INVALID_NUMBER: Final = "invalid_number"
TRUNK_ERROR: Final = "trunk_error"
CANCELED: Final = "canceled"

DISPOSITIONS: Final = (ANSWERED, BUSY, NO_ANSWER, REJECTED, INVALID_NUMBER, TRUNK_ERROR, CANCELED)

_BY_CODE: Final[dict[int, str]] = {
    486: BUSY,
    600: BUSY,
    408: NO_ANSWER,
    480: NO_ANSWER,
    603: REJECTED,
    404: INVALID_NUMBER,
    410: INVALID_NUMBER,
    484: INVALID_NUMBER,
    401: TRUNK_ERROR,  # only reaches us when our credentials were refused (pjsua retries once)
    403: TRUNK_ERROR,
    407: TRUNK_ERROR,
    487: CANCELED,
}


def disposition_for(sip_code: int | None) -> str:
    """Disposition of a call that ended before being answered with final response `sip_code`.

    `None` or 0 means no final response arrived (transport failure, timeout inside pjsip): a trunk
    error, since a silent trunk is not the borrower's doing.
    """
    if not sip_code:
        return TRUNK_ERROR
    if 200 <= sip_code < 300:
        return ANSWERED
    if sip_code in _BY_CODE:
        return _BY_CODE[sip_code]
    if 500 <= sip_code < 600:
        return TRUNK_ERROR
    if sip_code >= 600:
        return REJECTED
    # Any other 4xx/3xx: the number cannot be reached the way we tried; treat as a trunk problem
    # so that it is looked at, instead of silently counting as an unanswered attempt.
    return TRUNK_ERROR


@dataclass(frozen=True)
class CallTimings:
    """Unix times of the milestones of one call; `None` when the milestone was never reached."""

    invite_sent_at: float
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None


class DialFailure(Exception):
    """A dial attempt that did not produce an answered call.

    Raised (as the failure of `SipEndpoint.dial`'s Deferred) with everything the dialer needs to
    decide on a retry: the disposition, the final SIP code and reason, and any early-media audio
    (16-bit PCM at the call's clock rate) so carrier announcements can be classified later.
    """

    def __init__(
        self,
        disposition: str,
        sip_code: int | None,
        reason: str,
        early_media: bytes = b"",
        *,
        call_id: str = "",
        timings: CallTimings | None = None,
    ) -> None:
        super().__init__(f"{disposition}: {sip_code or '-'} {reason}")
        self.disposition = disposition
        self.sip_code = sip_code
        self.reason = reason
        self.early_media = early_media
        self.call_id = call_id
        self.timings = timings


class EndpointBusy(DialFailure):
    """Refused locally before any SIP was sent (no free call slot, or a dial burst too fast).

    A `trunk_error` for code that only knows `DialFailure`; a dialer that checks for this subclass
    can requeue the attempt instead of counting it against the borrower (no call was placed).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(TRUNK_ERROR, None, reason)

"""Events a call reports to its listeners on the reactor thread (small frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass

from telephony.dispositions import CallTimings

DTMF_RFC2833 = "rfc2833"
DTMF_SIP_INFO = "sip_info"

HANGUP_BY_BOT = "bot"
HANGUP_BY_REMOTE = "remote"


@dataclass(frozen=True)
class DtmfReceived:
    """One key pressed by the borrower; `t` is seconds since answer."""

    digit: str
    method: str  # rfc2833 | sip_info
    t: float


@dataclass(frozen=True)
class InfoReceived:
    """A SIP INFO from the peer that is not DTMF (simulated borrowers send their words this way)."""

    content_type: str
    body: str
    t: float = 0.0


@dataclass(frozen=True)
class CallEnded:
    """The one end-of-call event: who ended it, why, with which SIP code, and the milestones.

    `reason` is one of: `local_hangup`, `remote_bye`, `max_duration`, `transferred`,
    `endpoint_stopped`, `media_timeout` (no RTP for `[media] rtp_timeout_seconds`), `media_error`,
    or a SIP reason phrase when the call failed mid-way.
    """

    call_id: str
    reason: str
    hangup_by: str  # bot | remote
    sip_code: int
    sip_reason: str
    timings: CallTimings
    recording: str | None
    dtmf: str

    @property
    def duration_s(self) -> float:
        t = self.timings
        if t.answered_at is None or t.ended_at is None:
            return 0.0
        return max(0.0, t.ended_at - t.answered_at)


@dataclass(frozen=True)
class TransferResult:
    """Final answer to a blind transfer: `accepted` when the target answered (sipfrag 2xx)."""

    accepted: bool
    sip_code: int
    reason: str


@dataclass(frozen=True)
class RegistrationState:
    """Outcome of the latest REGISTER of a trunk (`code` 200 = registered)."""

    trunk: str
    registered: bool
    code: int
    reason: str
    expires_s: int = 0

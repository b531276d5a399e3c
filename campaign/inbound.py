"""The coordinator's side of inbound calls (issue 14): who is calling back, and the attempt it opens.

A call worker (or the in-process endpoint of `serve --workers 0`) asks `admit` for every trunk INVITE
to our caller ID. The caller is identified by number over the contacts of every campaign that is not
finished (`CampaignStore.inbound_candidates`); an admitted call opens an attempt with direction
`inbound` (never counted for C2/C3 or `max_attempts_total`: the borrower called us) and its record is
stored by the dialer like an outbound one (disposition, outcome, promises, facts, follow-up).
Refusals (unknown caller, a number that is not ours, the borrower already on a call) store nothing.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from campaign.dialer import AttemptLost
from campaign.model import AttemptStart
from campaign.store import new_id
from dialogue.borrower import BorrowerError, normalize_phone
from session.inbound import (
    BUSY_HERE,
    TEMPORARILY_UNAVAILABLE,
    InboundAdmission,
    InboundRefusal,
    InboundRequest,
)
from session.record import CallRecord
from telemetry.logging import log_event

if TYPE_CHECKING:
    from campaign.scheduler import Scheduler

log = logging.getLogger(__name__)

DIRECTION_INBOUND = "inbound"
REASON_INBOUND = "inbound"


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


class InboundCalls:
    """`session.inbound.InboundDesk` over the campaign store and the scheduler's dialer."""

    def __init__(
        self, scheduler: Scheduler, *, script_set: str, trunk_caller_ids: Iterable[str] = (),
        recording_dir: Path | None = None, max_call_seconds: float | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.dialer = scheduler.dialer
        self.reactor = scheduler.reactor
        self.script_set = script_set
        self.trunk_caller_ids = frozenset(d for d in (_digits(c) for c in trunk_caller_ids) if d)
        self.recording_dir = recording_dir
        self.max_call_seconds = max_call_seconds
        self.open: dict[str, AttemptStart] = {}

    def our_numbers(self) -> frozenset[str]:
        """Digits of every caller ID we call from: the trunks' and the unfinished campaigns'."""
        campaigns = {_digits(c.caller_id) for c in self.store.list_campaigns() if c.state != "finished" and c.caller_id}
        return self.trunk_caller_ids | {d for d in campaigns if d}

    def admit(self, request: InboundRequest) -> Deferred[InboundAdmission | InboundRefusal]:
        return succeed(self.decide(request))

    def decide(self, request: InboundRequest) -> InboundAdmission | InboundRefusal:
        dialed = _digits(request.dialed_number)
        if not dialed or dialed not in self.our_numbers():
            return self._refuse(request, TEMPORARILY_UNAVAILABLE, "not_our_number", "the dialled number is not ours")
        try:
            phone = normalize_phone(request.caller_number)
        except BorrowerError:
            return self._refuse(request, TEMPORARILY_UNAVAILABLE, "caller_unknown", "no usable caller number")
        candidates = self.store.inbound_candidates(phone)
        if not candidates:
            return self._refuse(request, TEMPORARILY_UNAVAILABLE, "caller_unknown", "the caller is not a borrower")
        busy = self.dialer.busy_borrowers()
        free = [b for b in candidates if (b.campaign_id, b.borrower_id) not in busy]
        if not free:
            return self._refuse(request, BUSY_HERE, "borrower_in_call", "the borrower is already on a call")
        borrower = free[0]
        attempt = AttemptStart(
            attempt_id=new_id("inb"), campaign_id=borrower.campaign_id, borrower_id=borrower.borrower_id,
            phone=phone, trunk=request.trunk, reason=REASON_INBOUND, started_at=self.reactor.seconds(),
            direction=DIRECTION_INBOUND,
        )
        self.dialer.open_inbound(attempt)
        self.open[attempt.attempt_id] = attempt
        record_path = None
        if self.recording_dir is not None:
            with contextlib.suppress(OSError):  # unusable: the call's recorder logs it once and the call goes on
                self.recording_dir.mkdir(parents=True, exist_ok=True)
            record_path = str(self.recording_dir / f"{attempt.attempt_id}.wav")
        log_event(log, "inbound.admitted", campaign=borrower.campaign_id, borrower=borrower.borrower_id,
                  phone=phone, attempt=attempt.attempt_id, trunk=request.trunk, candidates=len(candidates))
        return InboundAdmission(
            attempt_id=attempt.attempt_id, borrower=dict(borrower.data), segment=borrower.segment,
            script_set=self.script_set, record_path=record_path, max_seconds=self.max_call_seconds,
        )

    @staticmethod
    def _refuse(request: InboundRequest, code: int, why: str, reason: str) -> InboundRefusal:
        log_event(log, "inbound.refused", caller=request.caller_number, dialed=request.dialed_number,
                  trunk=request.trunk, code=code, reason=why)
        return InboundRefusal(code, reason)

    def settle(self, attempt_id: str, result: Deferred[CallRecord]) -> None:
        result.addBoth(self._settled, attempt_id)

    def _settled(self, result: CallRecord | Failure, attempt_id: str) -> None:
        attempt = self.open.pop(attempt_id, None)
        if attempt is None:
            log_event(log, "inbound.unknown_attempt", logging.WARNING, attempt=attempt_id)
            return
        if isinstance(result, CallRecord):
            self.dialer.close_inbound(attempt, result)
            return
        self.dialer.close_inbound(attempt, None)
        lost = result.value if isinstance(result.value, AttemptLost) else None
        why = lost.reason if lost is not None else "unknown"
        level = logging.WARNING if lost is not None else logging.ERROR
        log_event(log, "inbound.lost", level, attempt=attempt_id, reason=why, error=result.getErrorMessage())
        now = self.reactor.seconds()
        try:
            campaign = self.store.get_campaign(attempt.campaign_id)
            borrower = self.store.get_borrower(attempt.campaign_id, attempt.borrower_id)
            retry = self.scheduler.strategy_for(campaign, borrower).retry_after("unknown")
            self.store.mark_lost(attempt_id, now, now + retry, disposition=why)
        except Exception as exc:
            log_event(log, "inbound.unrecoverable", logging.CRITICAL, attempt=attempt_id, error=repr(exc))

"""The campaign loop: every tick, dial the due borrowers of running campaigns within pacing limits.

Every call - scheduled, retry, callback, promise check or an operator's "call now" - goes through
`_try_dial`, which asks the compliance gate first; a refusal is stored and logged with its rule id
and the borrower is moved to the earliest time the rule could allow. State lives in the store, so
after a crash `recover()` turns pending attempts into lost ones (still counted against the caps)
and the loop simply carries on.

Several nodes may run this loop on one shared store: a dial starts only when `claim_attempt` wins
the borrower (the gate is asked again under the claim's lock), and each node heartbeats so that the
pending attempts of a node silent for `node_timeout` are closed as lost by a live one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from campaign.borrower_facts import RULE_PROMISE_KEPT, RULE_REVIEW_OPEN
from campaign.clock import ReactorClock
from campaign.compliance import ComplianceGate, effective_window
from campaign.dialer import AttemptLost, CallCapacity, Dialer, DialResult, Pacer
from campaign.followups import plan_follow_up
from campaign.model import (
    BORROWER_ACTIVE,
    BORROWER_REVIEW,
    BORROWER_STOPPED,
    AttemptStart,
    BorrowerState,
    Campaign,
    FollowUp,
    Refusal,
)
from campaign.promise_followups import REASON_BROKEN, REASON_REMINDER, plan_promise_follow_up
from campaign.store import NODE_TIMEOUT_SECONDS, CampaignStore
from config.campaign_config import CampaignSettings, PromiseSettings, Strategy, StrategyBook
from config.server_config import TrunkSettings
from session.record import CallRecord
from telemetry.logging import log_event
from telemetry.metrics import REGISTRY, Registry

log = logging.getLogger(__name__)

RULE_CLAIMED = "IN_CALL"  # not a compliance refusal: the borrower was claimed by another dial first


@dataclass(frozen=True)
class DialStarted:
    attempt_id: str
    phone: str
    done: Deferred[DialResult]


class Scheduler:
    def __init__(
        self, store: CampaignStore, strategies: StrategyBook, dialer: Dialer, reactor: ReactorClock,
        settings: CampaignSettings, trunks: tuple[TrunkSettings, ...] = (), metrics: Registry = REGISTRY,
        capacity: CallCapacity | None = None, promises: PromiseSettings | None = None,
        node_timeout: float = NODE_TIMEOUT_SECONDS,
    ) -> None:
        self.store = store
        self.strategies = strategies
        self.dialer = dialer
        self.reactor = reactor
        self.settings = settings
        self.trunks = {t.name: t for t in trunks}
        self.promises = promises or PromiseSettings()
        self.gate = ComplianceGate(store, settings.timezone, self.promises)
        self.pacer = Pacer(capacity)
        dialer.plan_follow_up = self._plan
        dialer.script_set_for = self._script_set_for
        self.node_timeout = node_timeout
        self._last_heartbeat: float | None = None
        self._loop: LoopingCall | None = None
        self._pending: set[Deferred[Any]] = set()
        self._importing: dict[str, int] = {}  # campaign id -> imports being written on the store thread
        self._refused = metrics.counter(
            "voicebot_attempts_refused_total", "Dials refused by the compliance gate, by rule", ["rule"])

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.warn_about_capacity()
        self.recover()
        loop = LoopingCall(self.tick)
        loop.clock = self.reactor  # type: ignore[assignment]
        self._loop = loop
        loop.start(self.settings.tick_seconds, now=True).addErrback(self._loop_failed)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def warn_about_capacity(self) -> list[str]:
        """Trunks configured for more concurrent calls than the endpoint can carry (read after it started).

        Not an error: the pacer holds every trunk to the endpoint's free slots; the operator should
        still know that `max_concurrent_calls` will not be reached.
        """
        capacity = self.pacer.capacity
        if capacity is None:
            return []
        limit = capacity.max_calls
        over = [t for t in self.trunks.values() if t.max_concurrent_calls > limit]
        for trunk in over:
            log_event(log, "campaign.trunk_over_capacity", logging.WARNING, trunk=trunk.name,
                      configured=trunk.max_concurrent_calls, effective=limit,
                      reason=f"trunk {trunk.name!r} allows {trunk.max_concurrent_calls} concurrent calls but the SIP "
                             f"endpoint carries {limit}: at most {limit} calls at once")
        return [t.name for t in over]

    def _loop_failed(self, failure: Failure) -> None:
        log_event(log, "campaign.scheduler_failed", logging.CRITICAL, error=failure.getTraceback())

    def recover(self) -> list[str]:
        """At start: pending attempts nobody will finish - this node's from before a crash, a silent node's -
        are marked lost (they still count) and the borrower rescheduled after the strategy's retry spacing."""
        return self._close_orphans(own=True)

    def reap(self) -> list[str]:
        """While running: heartbeat, and close the pending attempts of nodes silent for `node_timeout`."""
        return self._close_orphans(own=False)

    def _close_orphans(self, *, own: bool) -> list[str]:
        now = self.reactor.seconds()
        self.store.heartbeat(now)
        self._last_heartbeat = now
        lost = self.store.orphaned_attempts(now, self.node_timeout, own=own)
        for attempt in lost:
            campaign = self.store.get_campaign(attempt.campaign_id)
            borrower = self.store.get_borrower(attempt.campaign_id, attempt.borrower_id)
            retry = self.strategy_for(campaign, borrower).retry_after("unknown")
            self.store.mark_lost(attempt.attempt_id, now, now + retry)
            log_event(log, "campaign.attempt_lost", campaign=attempt.campaign_id, borrower=attempt.borrower_id,
                      attempt=attempt.attempt_id)
        return [a.attempt_id for a in lost]

    def wait_idle(self) -> Deferred[None]:
        """Fires when every dial started so far has been stored and followed up (for shutdown and tests)."""
        d: Deferred[Any] = DeferredList(list(self._pending), consumeErrors=True)
        return d.addCallback(lambda _: None)

    def hold(self, campaign_id: str) -> None:
        """An import into the campaign is being written off the reactor: dial none of its borrowers until
        `release`, so a new row is never dialled before the import's allocation has placed it."""
        self._importing[campaign_id] = self._importing.get(campaign_id, 0) + 1

    @property
    def importing(self) -> frozenset[str]:
        """Campaigns held by `hold` now."""
        return frozenset(self._importing)

    def release(self, campaign_id: str) -> None:
        left = self._importing.get(campaign_id, 0) - 1
        if left > 0:
            self._importing[campaign_id] = left
        else:
            self._importing.pop(campaign_id, None)

    # -- the loop -------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.reactor.seconds()
        if self._last_heartbeat is None or now - self._last_heartbeat >= self.node_timeout / 3:
            try:
                self.reap()
            except Exception as exc:
                log_event(log, "campaign.heartbeat_failed", logging.ERROR, error=repr(exc))
        for campaign in self.store.list_campaigns():
            try:
                self._tick_campaign(campaign, now)
            except Exception as exc:  # one broken campaign (or a store hiccup) must not stop the loop
                log_event(log, "campaign.tick_failed", logging.ERROR, campaign=campaign.id, error=repr(exc))

    def _tick_campaign(self, campaign: Campaign, now: float) -> None:
        if campaign.id in self._importing:
            return  # its new borrowers are not allocated yet (hold)
        if campaign.state == "scheduled" and campaign.start_at is not None and campaign.start_at <= now:
            campaign = self.store.set_campaign_state(campaign.id, "running", now)
            self.store.audit("scheduler", "start", campaign.id, {"scheduled_for": campaign.start_at}, now)
        if campaign.state != "running":
            return
        self._dial_due(campaign, now)
        if self.store.active_borrower_count(campaign.id) == 0 and self.dialer.in_flight(campaign.id) == 0:
            self.store.set_campaign_state(campaign.id, "finished", now)
            self.store.audit("scheduler", "finish", campaign.id, {"reason": "no active borrowers"}, now)
            log_event(log, "campaign.finished", campaign=campaign.id)

    def _limits(self, campaign: Campaign, trunk: str | None) -> list[tuple[str, int, float]]:
        limits = [(f"campaign:{campaign.id}", campaign.max_concurrent_calls, campaign.calls_per_second)]
        settings = self.trunks.get(trunk or "")
        if settings is not None:
            limits.append((f"trunk:{settings.name}", settings.max_concurrent_calls, settings.calls_per_second))
        return limits

    def _trunk(self, campaign: Campaign) -> str | None:
        return campaign.trunk or self.settings.default_trunk

    def _dial_due(self, campaign: Campaign, now: float) -> None:
        trunk = self._trunk(campaign)
        limits = self._limits(campaign, trunk)
        if not self.pacer.may_dial(limits, now):
            return  # at a limit: skip the query entirely
        busy = self.dialer.busy_borrowers()
        for borrower in self.store.due_borrowers(campaign.id, now, limit=max(20, campaign.max_concurrent_calls * 4)):
            if not self.pacer.may_dial(limits, now):
                return
            if (campaign.id, borrower.borrower_id) in busy:
                continue
            self._try_dial(campaign, borrower, borrower.next_reason or "scheduled", now, trunk, limits, due_by=now)

    def strategy_for(self, campaign: Campaign, borrower: BorrowerState) -> Strategy:
        return self.strategies.get(campaign.strategy or borrower.strategy)

    def _try_dial(
        self, campaign: Campaign, borrower: BorrowerState, reason: str, now: float, trunk: str | None,
        limits: list[tuple[str, int, float]], *, due_by: float | None = None,
    ) -> DialStarted | Refusal:
        """The gate, then the claim (`due_by`: the borrower must still be due then; None for a manual call)."""
        strategy = self.strategy_for(campaign, borrower)
        refusals: list[tuple[str, Refusal]] = []
        for contact in self.store.contacts(campaign.id, borrower.borrower_id):
            def check(phone: str = contact.phone, valid: bool = contact.valid) -> Refusal | None:
                return self.gate.check(
                    borrower_id=borrower.borrower_id, phone=phone, valid_contact=valid,
                    timezone=borrower.timezone, campaign_timezone=campaign.timezone, strategy=strategy, now=now,
                    campaign_id=campaign.id, reason=reason,
                )

            refusal = check()
            if refusal is None:
                attempt = self.dialer.new_attempt(campaign, borrower, contact.phone, trunk, reason)
                claim = self.store.claim_attempt(attempt, check, due_by=due_by)  # committed before the INVITE
                if claim.refusal is not None:  # a rival node's attempt, committed meanwhile, reached a cap
                    refusals.append((contact.phone, claim.refusal))
                    continue
                if not claim.begun:
                    log_event(log, "campaign.claim_lost", campaign=campaign.id, borrower=borrower.borrower_id)
                    return Refusal(RULE_CLAIMED, "another call (on this node or another) has this borrower now")
                self.pacer.take(limits, now)
                keys = [key for key, _m, _r in limits]
                done = self.dialer.start(campaign, borrower, attempt)
                self._pending.add(done)
                done.addBoth(self._dial_finished, campaign, attempt, keys, done)
                return DialStarted(attempt.attempt_id, contact.phone, done)
            refusals.append((contact.phone, refusal))
        return self._refuse(campaign, borrower, refusals, now)

    def _refuse(
        self, campaign: Campaign, borrower: BorrowerState, refusals: list[tuple[str, Refusal]], now: float
    ) -> Refusal:
        for phone, refusal in refusals:
            if refusal.rule == "INVALID_CONTACT":
                continue  # a known-bad number is not a call we tried to make
            self.store.record_refusal(campaign.id, borrower.borrower_id, phone, refusal.rule, refusal.reason, now)
            self._refused.inc(rule=refusal.rule)
            log_event(log, "campaign.refused", campaign=campaign.id, borrower=borrower.borrower_id, phone=phone,
                      rule=refusal.rule, reason=refusal.reason)
        retry_times = [r.retry_at for _p, r in refusals if r.retry_at is not None]
        if retry_times:
            self.store.schedule_borrower(
                campaign.id, borrower.borrower_id, status=BORROWER_ACTIVE, next_due_at=min(retry_times),
                next_reason=borrower.next_reason, trunk_error_streak=borrower.trunk_error_streak,
            )
        else:
            rules = {r.rule for _p, r in refusals}
            # An open complaint/dispute from another campaign puts this one's borrower under review too.
            status = BORROWER_REVIEW if RULE_REVIEW_OPEN in rules else BORROWER_STOPPED
            stop_reason = (RULE_REVIEW_OPEN if RULE_REVIEW_OPEN in rules else
                           "promise_kept" if RULE_PROMISE_KEPT in rules else "no_callable_number")
            self.store.schedule_borrower(
                campaign.id, borrower.borrower_id, status=status, next_due_at=None,
                next_reason="human_review" if status == BORROWER_REVIEW else "stopped",
                trunk_error_streak=borrower.trunk_error_streak, stop_reason=stop_reason,
            )
        if refusals:
            return refusals[0][1]
        return Refusal("INVALID_CONTACT", "the borrower has no contact number")

    def _dial_finished(
        self, result: DialResult | Failure, campaign: Campaign, attempt: AttemptStart, keys: list[str],
        done: Deferred[Any],
    ) -> DialResult | None:
        self._pending.discard(done)
        self.pacer.release(keys)
        if isinstance(result, Failure):  # a bug, a store error or a lost worker: keep the attempt (counted), retry
            lost = result.check(AttemptLost) is not None
            if lost:  # e.g. its call worker died mid-call
                log_event(log, "campaign.attempt_lost", logging.WARNING, campaign=campaign.id,
                          attempt=attempt.attempt_id, reason=str(result.value))
            else:
                log_event(log, "campaign.attempt_failed", logging.ERROR, campaign=campaign.id,
                          attempt=attempt.attempt_id, error=result.getTraceback())
            now = self.reactor.seconds()
            try:
                borrower = self.store.get_borrower(campaign.id, attempt.borrower_id)
                retry = self.strategy_for(campaign, borrower).retry_after("unknown")
                if lost:
                    self.store.mark_lost(attempt.attempt_id, now, now + retry, disposition=str(result.value))
                else:
                    self.store.mark_lost(attempt.attempt_id, now, now + retry)
            except Exception as exc:
                log_event(log, "campaign.attempt_unrecoverable", logging.CRITICAL, attempt=attempt.attempt_id,
                          error=repr(exc))
            return None
        return result

    def _plan(self, attempt: AttemptStart, record: CallRecord) -> FollowUp:
        """The follow-up of one finished attempt; the store writes it with the attempt's result."""
        now = self.reactor.seconds()
        campaign = self.store.get_campaign(attempt.campaign_id)
        borrower = self.store.get_borrower(campaign.id, attempt.borrower_id)
        strategy = self.strategy_for(campaign, borrower)
        zone, known = self.gate.zone_for(borrower.timezone, campaign.timezone, attempt.phone)
        contacts = self.store.contacts(campaign.id, borrower.borrower_id)
        others = sum(
            1 for c in contacts if c.valid and c.phone != attempt.phone and not self.store.is_opted_out(c.phone)
        )
        plan = plan_follow_up(
            strategy, record, now=now, zone=zone, window=effective_window(strategy, known),
            attempts_total=borrower.attempts_total, trunk_error_streak=borrower.trunk_error_streak,
            other_valid_numbers=others,
        )
        plan = plan_promise_follow_up(
            plan, strategy, record, self.store.active_promises(borrower.borrower_id), campaign_id=campaign.id,
            now=now, zone=zone, window=effective_window(strategy, known),
        )
        if plan.opt_out_phone:
            log_event(log, "campaign.opt_out", campaign=campaign.id, borrower=borrower.borrower_id, phone=attempt.phone)
        return plan

    def _script_set_for(self, attempt: AttemptStart, borrower: BorrowerState) -> str | None:
        """Promise follow-up calls speak the script set their strategy names (strategies.toml)."""
        strategy = self.strategy_for(self.store.get_campaign(attempt.campaign_id), borrower)
        if strategy.mediation_notice_script_set is not None:  # issue 13: every call of it is the notice
            return strategy.mediation_notice_script_set
        if attempt.reason == REASON_BROKEN:
            return strategy.broken_promise_script_set
        if attempt.reason == REASON_REMINDER:
            return strategy.ptp_reminder_script_set
        return None

    # -- operator requests ----------------------------------------------------------------------
    def call_now(self, campaign_id: str, borrower_id: str, actor: str) -> DialStarted | Refusal:
        """A manual "call now" passes the same gate as any scheduled call (C1-C3, C7)."""
        now = self.reactor.seconds()
        campaign = self.store.get_campaign(campaign_id)
        borrower = self.store.get_borrower(campaign_id, borrower_id)
        self.store.audit(actor, "call_now", campaign_id, {"borrower": borrower_id}, now)
        if (campaign_id, borrower_id) in self.dialer.busy_borrowers():
            return Refusal("IN_CALL", "the borrower is already on a call")
        if borrower.status != BORROWER_ACTIVE:
            return Refusal("NOT_ACTIVE", f"the borrower is {borrower.status} ({borrower.stop_reason})")
        if not self.pacer.endpoint_has_room():
            return Refusal("ENDPOINT_BUSY", "every call slot of the SIP endpoint is in use; try again shortly")
        trunk = self._trunk(campaign)
        return self._try_dial(campaign, borrower, "manual", now, trunk, self._limits(campaign, trunk))

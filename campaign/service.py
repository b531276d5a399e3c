"""The operations one process offers, used by the HTTP API, the CLI and the demo alike.

`CampaignService` is the programmatic API: create a campaign, import borrowers (file, bytes or a
list of dicts), start/pause/resume/stop, "call now", and a progress snapshot. Every operator action
is written to the audit log. State changes follow draft -> scheduled -> running <-> paused -> finished;
pausing only stops new dials, live calls finish and are stored normally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaign.clock import ReactorClock
from campaign.compliance import day_bounds
from campaign.importer import BorrowerImporter, PreparedImport
from campaign.ledger import PromiseLedger
from campaign.model import Campaign, ImportReport, Refusal
from campaign.scheduler import DialStarted, Scheduler
from campaign.store import CampaignStore, new_id
from config.campaign_config import CampaignSettings, StrategyBook
from dialogue.segments import Segment
from telephony.sip_text import check_caller_id

# Allowed transitions: action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft",), "running"),
    "pause": (("running", "scheduled"), "paused"),
    "resume": (("paused",), "running"),
    "stop": (("draft", "scheduled", "running", "paused"), "finished"),
}


# What to do instead when an action does not fit the state: (action, state) -> hint
STATE_HINTS: dict[tuple[str, str], str] = {
    ("start", "paused"): "use resume to continue a paused campaign",
    ("start", "running"): "it is already running",
    ("start", "scheduled"): "it is already scheduled; stop it to cancel",
    ("start", "finished"): "a finished campaign cannot run again; create a new one",
    ("resume", "draft"): "use start",
    ("resume", "running"): "it is already running",
    ("pause", "draft"): "it has not started",
}


class CampaignStateError(ValueError):
    """An action that the campaign's current state does not allow (HTTP 409)."""


@dataclass(frozen=True)
class ProgressSnapshot:
    campaign: Campaign
    counts: dict[str, Any]
    calls_in_flight: int
    attempts_left: int  # what the daily borrower caps (C3) still allow today over active borrowers

    def to_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign.to_dict(), **self.counts, "calls_in_flight": self.calls_in_flight,
                "attempts_left_today": self.attempts_left}


class CampaignService:
    def __init__(
        self, store: CampaignStore, scheduler: Scheduler, strategies: StrategyBook, settings: CampaignSettings,
        reactor: ReactorClock, segments: tuple[Segment, ...] | None = None, ledger: PromiseLedger | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger  # promises, payments and the review queue (campaign.ledger); None: not offered
        self.scheduler = scheduler
        self.strategies = strategies
        self.settings = settings
        self.reactor = reactor
        self.importer = BorrowerImporter(store, strategies, segments, reactor.seconds)
        # Called with (store, campaign_id, actor) after every import, through the store that wrote it (on
        # the API's store thread, or the reactor's): the case allocation (campaign.allocation_store)
        # places new borrowers before the first dial.
        self.after_import: list[Callable[[CampaignStore, str, str], object]] = []

    def create_campaign(
        self, name: str, *, strategy: str | None = None, timezone: str | None = None, trunk: str | None = None,
        caller_id: str = "", max_concurrent_calls: int | None = None, calls_per_second: float | None = None,
        actor: str = "api",
    ) -> Campaign:
        if not name.strip():
            raise ValueError("name: must not be empty")
        if strategy is not None:
            try:
                self.strategies.get(strategy)
            except KeyError as exc:
                raise ValueError(f"strategy: {exc.args[0]}") from None
        zone = timezone or self.settings.timezone
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown IANA time zone {zone!r}") from None
        if trunk is not None and trunk not in self.scheduler.trunks:
            known = ", ".join(sorted(self.scheduler.trunks)) or "none configured"
            raise ValueError(f"trunk: unknown trunk {trunk!r} (known: {known})")
        if caller_id.strip():
            try:
                caller_id = check_caller_id(caller_id)
            except ValueError as exc:
                raise ValueError(f"caller_id: {exc}") from None
        concurrent = max_concurrent_calls or self.settings.max_concurrent_calls
        rate = calls_per_second or self.settings.calls_per_second
        if not 1 <= concurrent <= 1000:
            raise ValueError("max_concurrent_calls: expected 1..1000")
        if not 0 < rate <= 200:
            raise ValueError("calls_per_second: expected more than 0 and at most 200")
        now = self.reactor.seconds()
        campaign = Campaign(
            id=new_id("cmp"), name=name.strip(), state="draft", strategy=strategy, timezone=zone, trunk=trunk,
            caller_id=caller_id, max_concurrent_calls=concurrent, calls_per_second=rate, created_at=now,
        )
        self.store.create_campaign(campaign)
        self.store.audit(actor, "create", campaign.id, {"name": campaign.name, "strategy": strategy}, now)
        return campaign

    def ensure_importable(self, campaign_id: str, store: CampaignStore | None = None) -> Campaign:
        """A finished campaign takes no more borrowers: they would never be dialled (HTTP 409)."""
        campaign = (store or self.store).get_campaign(campaign_id)
        if campaign.state == "finished":
            raise CampaignStateError(
                f"cannot import into campaign {campaign_id} because it is finished: its borrowers would never be "
                "called; create a new campaign for them")
        return campaign

    def import_records(
        self, campaign_id: str, records: Iterable[Mapping[str, Any]], actor: str = "api"
    ) -> ImportReport:
        override = self.ensure_importable(campaign_id).strategy
        return self.import_prepared(campaign_id, self.importer.prepare_records(records, override), actor, "records")

    def import_bytes(self, campaign_id: str, name: str, data: bytes, actor: str = "api") -> ImportReport:
        override = self.ensure_importable(campaign_id).strategy
        return self.import_prepared(campaign_id, self.importer.prepare_bytes(name, data, override), actor, name)

    def import_prepared(
        self, campaign_id: str, prepared: PreparedImport, actor: str = "api", source: str = "upload",
        store: CampaignStore | None = None,
    ) -> ImportReport:
        """The write half of an import whose rows were validated elsewhere: the rows in one transaction,
        the audit line, then the after-import hooks (allocation), all through `store`: the reactor's
        (default), or the connection of `campaign.store_thread`'s thread (the API), so nothing of it
        touches objects the reactor thread uses."""
        db = store or self.store
        self.ensure_importable(campaign_id, db)  # again: the campaign may have been stopped meanwhile
        report = self.importer.on(db).commit(campaign_id, prepared)
        detail = {k: v for k, v in report.to_dict().items() if k != "errors"}
        detail["bad_rows"] = len(report.errors)
        detail["source"] = source
        db.audit(actor, "import", campaign_id, detail, self.reactor.seconds())
        for hook in self.after_import:
            hook(db, campaign_id, actor)
        return report

    def import_file(self, campaign_id: str, path: Path | str, actor: str = "api") -> ImportReport:
        return self.import_bytes(campaign_id, Path(path).name, Path(path).read_bytes(), actor)

    def change_state(
        self, campaign_id: str, action: str, actor: str = "api", start_at: float | None = None
    ) -> Campaign:
        campaign = self.store.get_campaign(campaign_id)
        if action not in TRANSITIONS:
            raise ValueError(f"action: expected one of {', '.join(TRANSITIONS)}")
        allowed, target = TRANSITIONS[action]
        if campaign.state not in allowed:
            hint = STATE_HINTS.get((action, campaign.state))
            suffix = f": {hint}" if hint else ""
            raise CampaignStateError(f"cannot {action} a campaign that is {campaign.state}{suffix}")
        if action == "start" and self.store.progress(campaign_id)["borrowers"] == 0:
            # Finishing at the first tick would leave an empty campaign finished for good; it stays draft.
            raise CampaignStateError(
                f"cannot start campaign {campaign_id}: it has no borrowers yet; import borrowers, then start "
                "(it stays draft)")
        now = self.reactor.seconds()
        if action == "start" and start_at is not None and start_at > now:
            target = "scheduled"
        updated = self.store.set_campaign_state(campaign_id, target, now, start_at=start_at)
        self.store.audit(actor, action, campaign_id, {"from": campaign.state, "to": target}, now)
        if target == "running":
            self.scheduler.tick()  # dial right away instead of waiting for the next tick
        return self.store.get_campaign(campaign_id) if target == "running" else updated

    def allowed_actions(self, campaign_id: str) -> list[str]:
        """The state changes `change_state` would accept now (the dashboard enables only these buttons)."""
        campaign = self.store.get_campaign(campaign_id)
        allowed = [action for action, (states, _target) in TRANSITIONS.items() if campaign.state in states]
        if "start" in allowed and self.store.progress(campaign_id)["borrowers"] == 0:
            allowed.remove("start")
        return allowed

    def start(self, campaign_id: str, actor: str = "api", start_at: float | None = None) -> Campaign:
        return self.change_state(campaign_id, "start", actor, start_at)

    def pause(self, campaign_id: str, actor: str = "api") -> Campaign:
        return self.change_state(campaign_id, "pause", actor)

    def resume(self, campaign_id: str, actor: str = "api") -> Campaign:
        return self.change_state(campaign_id, "resume", actor)

    def stop(self, campaign_id: str, actor: str = "api") -> Campaign:
        return self.change_state(campaign_id, "stop", actor)

    def call_now(self, campaign_id: str, borrower_id: str, actor: str = "api") -> DialStarted | Refusal:
        return self.scheduler.call_now(campaign_id, borrower_id, actor)

    def progress(self, campaign_id: str) -> ProgressSnapshot:
        campaign = self.store.get_campaign(campaign_id)
        counts = self.store.progress(campaign_id)
        now = self.reactor.seconds()

        def cap(strategy: str | None) -> int:
            return self.strategies.get(campaign.strategy or strategy).max_attempts_per_borrower_per_day

        left = 0
        zones: set[str | None] = set()
        for timezone, strategy, count in self.store.active_groups(campaign_id):  # aggregated in SQL
            left += cap(strategy) * count
            zones.add(timezone)
        for timezone in zones:  # then subtract what today's attempts (in each borrower's local day) used
            zone, _known = self.scheduler.gate.zone_for(timezone, campaign.timezone)
            for strategy, used in self.store.active_attempt_counts(campaign_id, timezone, *day_bounds(now, zone)):
                left -= min(used, cap(strategy))
        return ProgressSnapshot(campaign, counts, self.scheduler.dialer.in_flight(campaign_id), left)

    def list_campaigns(self) -> list[Campaign]:
        return self.store.list_campaigns()

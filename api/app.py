"""Assembles the serving process: store, strategies, scheduler, dialer, SIP endpoint and HTTP site.

`build_app(config, reactor, runner=...)` is the one place that wires them, so `serve`, the demo and
the integration tests run the same graph; the session's `AnsweredCallRunner` and (for tests) the
call placer are injected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.web import server

from api.web import build_site
from campaign.allocation_store import AllocationRun
from campaign.dialer import AnsweredCallRunner, CallCapacity, CallPlacer, Dialer
from campaign.inbound import InboundCalls
from campaign.ledger import PromiseLedger
from campaign.scheduler import Scheduler
from campaign.service import CampaignService
from campaign.store import SqlStore, open_store
from config.allocation_config import DEFAULT_ALLOCATION_TOML, load_allocation
from config.campaign_config import StrategyBook, load_strategies
from config.server_config import ServerConfig
from dialogue.segments import Segment, load_segments
from session.inbound import InboundAnswerer
from telemetry.logging import log_event
from telemetry.metrics import REGISTRY, Registry
from telemetry.reactor_lag import ReactorLag

log = logging.getLogger(__name__)


def register_standard_metrics(metrics: Registry) -> None:
    """Make `/metrics` list the latency histograms even before the first call records one."""
    metrics.histogram("voicebot_asr_final_seconds", "End of borrower speech (VAD) to the final transcript")
    metrics.histogram(
        "voicebot_voice_to_voice_seconds",
        "End of borrower speech (VAD) to the first bot frame handed to the media bridge",
    )
    metrics.counter("voicebot_attempts_refused_total", "Dials refused by the compliance gate, by rule", ["rule"])


@dataclass
class VoicebotApp:
    config: ServerConfig
    reactor: Any
    store: SqlStore
    strategies: StrategyBook
    segments: tuple[Segment, ...]
    dialer: Dialer
    scheduler: Scheduler
    service: CampaignService
    site: server.Site
    metrics: Registry
    endpoint: Any = None  # the SipEndpoint we own (started and stopped here), if any
    port: Any = None
    workers: Any = None  # workers.pool.WorkerPool when calls run in call-worker processes
    allocation: AllocationRun | None = None  # the daily case allocation (issue 13)
    _started: list[str] = field(default_factory=list)
    _lag: ReactorLag | None = None

    @property
    def http_port(self) -> int:
        return int(self.port.getHost().port) if self.port is not None else 0

    @inlineCallbacks
    def start(self, *, listen_http: bool = True) -> Any:
        if self.endpoint is not None:
            yield self.endpoint.start()
            self._started.append("sip")
        if self.workers is not None:
            yield self.workers.start()
            self._started.append("workers")
        self.scheduler.start()
        self._started.append("scheduler")
        if self.service.ledger is not None:
            self.service.ledger.start()  # reconciles promises now and then hourly
        if self.allocation is not None:
            self.allocation.start()  # allocates every borrower now and then daily
        if hasattr(self.reactor, "callFromThread"):  # a real reactor (tests drive a task.Clock by hand)
            self._lag = ReactorLag(self.reactor, self.metrics)
            self._lag.start()
        if listen_http:
            http = self.config.http
            self.port = self.reactor.listenTCP(http.port, self.site, interface=http.bind_address)
            log_event(log, "http.listening", address=http.bind_address, port=self.http_port)
        return self

    @inlineCallbacks
    def stop(self) -> Any:
        """Stop dialling, let live calls end (the endpoint hangs them up), then close everything."""
        self.scheduler.stop()
        if self._lag is not None:
            self._lag.stop()
        if self.service.ledger is not None:
            self.service.ledger.stop()
        if self.allocation is not None:
            self.allocation.stop()
        if self.port is not None:
            yield self.port.stopListening()
            self.port = None
        self.site.resource.close()
        if self.endpoint is not None and "sip" in self._started:
            yield self.endpoint.stop()
        if self.workers is not None:
            yield self.workers.drain()  # calls may finish for [workers] drain_seconds, then "shutdown"
        yield self.scheduler.wait_idle()
        if self.workers is not None:
            yield self.workers.stop()
        self.store.close()


def build_app(
    config: ServerConfig, reactor: Any, *, runner: AnsweredCallRunner | None = None,
    placer: CallPlacer | None = None, metrics: Registry = REGISTRY, store: SqlStore | None = None,
    http_reactor: Any = None, capacity: CallCapacity | None = None, workers: Any = None,
) -> VoicebotApp:
    """Wire the process; without `placer` a real `telephony.endpoint.SipEndpoint` is created (not started).

    `http_reactor` serves HTTP (default: `reactor`); tests pass the real reactor there and a
    `task.Clock` as `reactor`, so the scheduler's time is theirs while HTTP stays real.
    `capacity` is the endpoint's slot table the pacer respects (default: the endpoint created here).
    """
    strategies = load_strategies(config.campaign.strategies_file)
    segments = load_segments(config.dialogue.segments_file, strategies=frozenset(strategies.strategies))
    endpoint = None
    if workers is not None:  # calls run in call workers (workers.pool.WorkerPool): no pjsua2 here
        capacity = workers
    elif placer is None:
        from telephony.endpoint import SipEndpoint

        endpoint = SipEndpoint(config, reactor)
        placer = endpoint
        if capacity is None:
            capacity = endpoint
    db = store or open_store(config.store)
    dialer = Dialer(
        db, placer, runner, reactor, recording_dir=config.calls.recording_dir,
        max_call_seconds=config.calls.max_call_seconds, segments=segments, metrics=metrics, attempts=workers,
    )
    settings = config.campaign
    if settings.default_trunk is None and config.trunks:
        settings = replace(settings, default_trunk=config.trunks[0].name)
    if settings.default_trunk is not None:
        config.trunk(settings.default_trunk)  # unknown name: ConfigError at start-up
    scheduler = Scheduler(db, strategies, dialer, reactor, settings, trunks=config.trunks, metrics=metrics,
                          capacity=capacity, promises=config.promises, node_timeout=config.store.node_timeout)
    ledger = PromiseLedger(db, strategies, config.promises, reactor, settings.timezone)
    service = CampaignService(db, scheduler, strategies, settings, reactor, segments=segments, ledger=ledger)
    book = load_allocation(DEFAULT_ALLOCATION_TOML, segments=frozenset(s.name for s in segments),
                           strategies=frozenset(strategies.strategies))
    allocation = AllocationRun(db, book, segments, reactor, settings.timezone)
    service.after_import.append(allocation.after_import)
    register_standard_metrics(metrics)
    web_reactor = http_reactor if http_reactor is not None else reactor
    site = build_site(service, config.http, metrics, recording_dir=config.calls.recording_dir,
                      reactor=web_reactor if hasattr(web_reactor, "callFromThread") else None,
                      allocation=allocation)
    if workers is not None:
        site.resource.call_workers = workers
    inbound = InboundCalls(scheduler, script_set=config.dialogue.inbound_script_set,
                           trunk_caller_ids=[t.caller_id for t in config.trunks if t.caller_id],
                           recording_dir=config.calls.recording_dir, max_call_seconds=config.calls.max_call_seconds)
    if workers is not None:
        workers.inbound = inbound
    elif endpoint is not None and runner is not None:  # serve --workers 0: the endpoint is in this process
        endpoint.on_trunk_call = InboundAnswerer(inbound, runner, reactor, segments=segments)
    return VoicebotApp(config, reactor, db, strategies, segments, dialer, scheduler, service, site, metrics,
                       endpoint=endpoint, workers=workers, allocation=allocation)


"""The pjsua2 endpoint inside the Twisted process: transports, trunks (accounts) and outbound calls.

Thread design: pjsua2 runs with no SIP worker thread (`uaConfig.threadCnt = 0`); the reactor polls
it (`libHandleEvents(0)`, never blocking) and drains the media `FrameRelay` in the same step. The
step runs whenever the media clock hands over frames (one reactor wake-up per 20 ms tick for all
calls) and otherwise every `POLL_INTERVAL_S` (20 ms) from a timer that each step re-arms, so SIP is
polled at least every 20 ms and an endpoint without media wakes 50 times a second, not 200. So every
pjsua2 API call and every SIP callback happens on the reactor thread, which is registered with pjlib
because it created the library. The other threads are pjsua2's own: the media clock (null audio
device; it runs the conference bridge and our `CallMediaPort`) and pjmedia's RTP worker, which keeps
RTP off the reactor and raises the RFC 2833 DTMF callback. Callbacks copy bytes or hand plain values
over with `callFromThread`, whichever thread they run on, so no application state is touched outside
the reactor. `stop()` blocks the reactor for up to a second while BYE/CANCEL go out.

There is one pjsua2 library per process. `start()` creates it and `stop()` destroys it after
releasing every Call/port/Account object in the order pjsua2 needs (calls hung up and deleted,
then ports, then accounts, then `libDestroy`), so a test module can start and stop its own endpoint
after another one did. Two endpoints running at the same time in one process are refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pjsua2 as pj
from twisted.internet import defer

from config.errors import ConfigError
from config.server_config import ServerConfig, TrunkSettings
from telemetry.logging import log_event
from telephony.call import Call, IncomingCall
from telephony.dispositions import TRUNK_ERROR, DialFailure, EndpointBusy
from telephony.events import RegistrationState
from telephony.media import BotFrameTally, CallMediaPort, FrameRelay, destroy_now
from telephony.pjlib import calls_in_use, compiled_call_limit
from telephony.sip_text import check_caller_id, invite_parties
from telephony.trust import RefusalLogBrake, TrustedSources, source_ip

log = logging.getLogger("telephony.endpoint")
pjlog = logging.getLogger("telephony.pjsip")

POLL_INTERVAL_S = 0.02  # SIP poll when no media frame wakes the reactor sooner (see the module doc)
# After a step the media clock woke, the timer waits 1.5 ticks: it fires only if the next tick is
# late, instead of racing the tick that is due (which would double the wake-ups).
MEDIA_POLL_SLACK_S = 0.03
IOQUEUE_HANDLES = 60  # PJ_IOQUEUE_MAX_HANDLES (64) minus the UDP and TCP SIP transports and spares
IOQUEUE_KEY_REUSE_S = 0.6  # PJ_IOQUEUE_KEY_FREE_DELAY (0.5 s) plus a margin
MAX_CALLS = 512  # asked of pjsua; the wheel's compiled limit is reported by `max_calls` after start()
_PJ_TO_PY_LEVEL = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


class RegistrationFailed(Exception):
    def __init__(self, state: RegistrationState) -> None:
        super().__init__(f"trunk {state.trunk!r} registration failed: {state.code} {state.reason}")
        self.state = state


class TrunkUnavailable(Exception):
    def __init__(self, state: RegistrationState) -> None:
        super().__init__(f"trunk {state.trunk!r} is not registered")
        self.state = state


class _PjLogWriter(pj.LogWriter):
    """pjsip's log lines into Python logging (masked by our formatter like everything else)."""

    def write(self, entry: pj.LogEntry) -> None:
        pjlog.log(_PJ_TO_PY_LEVEL.get(entry.level, logging.DEBUG), "%s", entry.msg.rstrip())


class _TrunkAccount(pj.Account):
    """pjsua2 account for a trunk (or the local direct-dial identity). Callbacks on pjsua2 threads."""

    def __init__(self, endpoint: SipEndpoint, trunk: TrunkSettings | None) -> None:
        super().__init__()
        self._endpoint = endpoint
        self.trunk = trunk

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        name = self.trunk.name if self.trunk else ""
        active = bool(info.regIsActive) and 200 <= int(prm.code) < 300
        expires = int(info.regExpiresSec) if active and int(info.regExpiresSec) < 2**31 else 0
        state = RegistrationState(name, active, int(prm.code), str(prm.reason), expires)
        self._endpoint.reactor.callFromThread(self._endpoint._on_reg_state, state)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        hook = self._endpoint.on_incoming_call
        if hook is None:
            source = str(prm.rdata.srcAddress)
            trusted = self._endpoint.trusted_sources.allows(source)
            if trusted and self._endpoint._ring_incoming(self, prm, source):
                return  # a trunk call to our caller ID: the application answers or refuses it
            # Without an answerer (or an INVITE we cannot read): a trunk gets a polite busy, anyone else 403.
            call = pj.Call(self, prm.callId)
            op = pj.CallOpParam(True)
            op.statusCode = 486 if trusted else 403
            call.hangup(op)
            if not trusted:
                self._endpoint.reactor.callFromThread(self._endpoint._log_refusal, source)
            return
        hook(self, prm.callId)


class _RefusingAccount(pj.Account):
    """Takes every call-starting request from outside the trunks and answers it 403.

    Why an account of its own: pjsua opens the RTP/RTCP sockets of an incoming call before
    `onIncomingCall` runs, and pjlib's 64-handle select() queue frees a handle only 0.5 s after its
    socket closes, so an INVITE flood from anywhere (200/s was measured) aborted the process.
    This account uses pjmedia's loop transport (no sockets), and `_Endpoint.onSelectAccount`
    hands it every request whose source is not trusted, before any media is created.
    """

    def __init__(self, endpoint: SipEndpoint) -> None:
        super().__init__()
        self._endpoint = endpoint

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        source = str(prm.rdata.srcAddress)
        call = pj.Call(self, prm.callId)
        op = pj.CallOpParam(True)
        op.statusCode = 403
        call.hangup(op)
        self._endpoint.reactor.callFromThread(self._endpoint._log_refusal, source)


class _Endpoint(pj.Endpoint):
    """pjsua2's Endpoint with account selection: untrusted sources go to the refusing account."""

    def __init__(self, owner: SipEndpoint) -> None:
        super().__init__()
        self._owner = owner

    def onSelectAccount(self, prm: pj.OnSelectAccountParam) -> None:
        owner = self._owner
        refuser = owner._refuser
        if refuser is None or owner.on_incoming_call is not None:
            return  # an answering UA (simulated phone) decides for itself
        if not owner.trusted_sources.allows(str(prm.rdata.srcAddress)):
            prm.accountIndex = refuser.getId()


class SipEndpoint:
    """Places calls through trunks (or directly) and owns the pjsua2 library while started."""

    _running: ClassVar[SipEndpoint | None] = None

    def __init__(self, config: ServerConfig, reactor: Any, *, log_level: int = 2) -> None:
        self.config = config
        self.reactor = reactor
        self.on_incoming_call: Callable[[pj.Account, int], None] | None = None
        # Trunk INVITEs (trusted source) ring and go here (reactor thread); None: refused 486 (outbound only).
        self.on_trunk_call: Callable[[IncomingCall], None] | None = None
        self.relay = FrameRelay(wake=self._frames_waiting)
        self.bot_frames = BotFrameTally()  # every call's bot frames and late ones, cumulative
        self.max_calls = 0
        self.local_port = 0
        self._log_level = log_level
        self._ep: pj.Endpoint | None = None
        self._log_writer: _PjLogWriter | None = None
        self._poller: Any = None  # IDelayedCall of the next timed poll, while started
        self._direct: _TrunkAccount | None = None
        self._accounts: dict[str, _TrunkAccount] = {}
        self._calls: set[Call] = set()
        self._reg: dict[str, RegistrationState] = {}
        self._reg_waiters: dict[str, list[defer.Deferred[RegistrationState]]] = {}
        self._reg_listeners: list[Callable[[RegistrationState], None]] = []
        self._port_seq = 0
        self._graveyard: list[tuple[Any, Any]] = []
        self._recent_dials: deque[float] = deque()
        self.trusted_sources = TrustedSources(())  # resolved from the trunks in start()
        self._refuser: _RefusingAccount | None = None
        self._refusal_log = RefusalLogBrake(reactor)

    def _log_refusal(self, source: str) -> None:
        """Reactor thread: one `sip.incoming_refused` line per source IP per minute (a flood is counted)."""
        unlogged = self._refusal_log.should_log(source_ip(source))
        if unlogged is not None:
            log_event(log, "sip.incoming_refused", logging.INFO, source=source, status=403,
                      refused_unlogged_since_last=unlogged)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._ep is not None

    def start(self) -> defer.Deferred[None]:
        """Create the library, SIP transport, null sound device and accounts; REGISTER where configured.

        Fires once the transport listens (registrations proceed in the background: see `registered`).
        """
        if self._ep is not None:
            return defer.fail(RuntimeError("endpoint already started"))
        if SipEndpoint._running is not None:
            return defer.fail(RuntimeError("another SipEndpoint is running in this process (one pjsua2 per process)"))
        self.trusted_sources = TrustedSources.of_trunks(self.config.trunks)
        try:
            self._create_library()
        except pj.Error as exc:
            self._destroy_library()
            return defer.fail(RuntimeError(f"pjsua2 failed to start: {exc.info()}"))
        SipEndpoint._running = self
        self._poll()
        log_event(log, "sip.started", port=self.local_port, max_calls=self.max_calls)
        return defer.succeed(None)

    def _create_library(self) -> None:
        ep = _Endpoint(self)
        self._ep = ep
        with _pjlib_stdout_to_log():  # pjlib announces itself on stdout before our writer is installed
            ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = self.config.sip.user_agent
        self._log_writer = _PjLogWriter()
        cfg.logConfig.writer = self._log_writer
        cfg.logConfig.level = self._log_level
        cfg.logConfig.consoleLevel = self._log_level  # pjsua2 hands the writer only console-level lines
        cfg.logConfig.decor = 0
        rate = self.config.media.clock_rate
        cfg.medConfig.clockRate = rate
        cfg.medConfig.sndClockRate = rate
        cfg.medConfig.channelCount = 1
        cfg.medConfig.audioFramePtime = 20
        cfg.medConfig.ptime = 20
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        cfg.medConfig.maxMediaPorts = 2 * MAX_CALLS + 8
        ep.libInit(cfg)
        self.max_calls = compiled_call_limit(MAX_CALLS)
        ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = self.config.sip.port
        tcfg.boundAddress = self.config.sip.bind_address
        kind = pj.PJSIP_TRANSPORT_UDP if self.config.sip.transport == "udp" else pj.PJSIP_TRANSPORT_TCP
        tid = ep.transportCreate(kind, tcfg)
        self.local_port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        if kind == pj.PJSIP_TRANSPORT_UDP:
            # Also reach targets that say ;transport=tcp (some SBCs require it); an ephemeral port.
            tcp = pj.TransportConfig()
            tcp.port = 0
            tcp.boundAddress = self.config.sip.bind_address
            ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcp)
        ep.libStart()
        self._set_codecs(ep)
        self._direct = self._create_account(None)
        for trunk in self.config.trunks:
            self._accounts[trunk.name] = self._create_account(trunk)
        refuser_config = self._account_config(None)
        refuser_config.idUri = f"sip:refused@{self.config.sip.bind_address}:{self.local_port}"
        refuser_config.mediaConfig.useLoopMedTp = True  # no RTP sockets for calls we only refuse
        self._refuser = _RefusingAccount(self)
        self._refuser.create(refuser_config, False)

    def _set_codecs(self, ep: pj.Endpoint) -> None:
        wanted = {f"{name}/8000/1": 250 - i for i, name in enumerate(self.config.media.codecs)}
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, wanted.get(codec.codecId, 0))

    def _account_config(self, trunk: TrunkSettings | None) -> pj.AccountConfig:
        acfg = pj.AccountConfig()
        host = self.config.sip.bind_address
        if trunk is None:
            acfg.idUri = f"sip:bot@{host}:{self.local_port}"
        else:
            user = trunk.caller_id or trunk.username or "bot"
            acfg.idUri = f"sip:{user}@{trunk.uri_host}"
            acfg.sipConfig.proxies.append(trunk.proxy if ";lr" in trunk.proxy else trunk.proxy + ";lr")
            if trunk.registers:
                acfg.regConfig.registrarUri = str(trunk.registrar)
                acfg.regConfig.registerOnAdd = True
                acfg.regConfig.timeoutSec = trunk.register_expires_s
                acfg.regConfig.retryIntervalSec = 30
                acfg.regConfig.unregWaitMsec = 1500  # do not hold shutdown for a registrar that is gone
            if trunk.username:
                acfg.sipConfig.authCreds.append(
                    pj.AuthCredInfo("digest", trunk.realm, trunk.username, 0, trunk.password or "")
                )
        media = acfg.mediaConfig.transportConfig
        media.port = self.config.media.rtp_port_start
        media.portRange = self.config.media.rtp_port_range
        media.boundAddress = host
        acfg.sipConfig.contactForced = f"<sip:bot@{host}:{self.local_port}>"
        acfg.natConfig.sdpNatRewriteUse = False
        acfg.mediaConfig.lockCodecEnabled = False  # no re-INVITE to narrow a multi-codec answer
        acfg.natConfig.viaRewriteUse = False
        acfg.natConfig.contactRewriteUse = False
        return acfg

    def _create_account(self, trunk: TrunkSettings | None) -> _TrunkAccount:
        account = _TrunkAccount(self, trunk)
        account.create(self._account_config(trunk), trunk is None)
        return account

    def _frames_waiting(self) -> None:
        """Media thread: the relay got its first frame since the last drain; poll on the reactor now."""
        self.reactor.callFromThread(self._poll, MEDIA_POLL_SLACK_S)

    def _poll(self, next_in: float = POLL_INTERVAL_S) -> None:
        """One reactor step: SIP events and timers, the media frames, deferred deletions; re-arms the timer."""
        ep = self._ep
        if ep is None:
            return
        ep.libHandleEvents(0)
        self.relay.drain()
        if self._graveyard:
            self._bury()
        poller = self._poller
        if poller is not None and poller.active():
            poller.reset(next_in)
        else:
            self._poller = self.reactor.callLater(next_in, self._poll)

    def stop(self) -> defer.Deferred[None]:
        """Hang up what is still up, release pjsua2 objects in order and destroy the library."""
        if self._ep is None:
            return defer.succeed(None)
        for call in list(self._calls):
            call.hangup("endpoint_stopped") if call.answered else call.cancel()
        # Give BYE/CANCEL a moment to go out and be answered; pjsua2 ends the rest in libDestroy.
        deadline = time.monotonic() + 1.0
        while self._calls and time.monotonic() < deadline:
            self._ep.libHandleEvents(10)
            self.relay.drain()
            self._flush_reactor_calls()
        for call in list(self._calls):
            call.end_for_shutdown()
            self.release_call(call)
        self._destroy_library()
        return defer.succeed(None)

    def _flush_reactor_calls(self) -> None:
        # callFromThread events from pjsua2 queued while we hold the reactor: run them now so calls
        # see their DISCONNECTED state before the objects go away.
        run = getattr(self.reactor, "runUntilCurrent", None)
        if run is not None:
            run()

    def _destroy_library(self) -> None:
        if self._poller is not None and self._poller.active():
            self._poller.cancel()
        self._poller = None
        self.relay.drain()
        self._bury()
        ep = self._ep
        if ep is not None:
            for account in [self._refuser, self._direct, *self._accounts.values()]:
                if account is not None:
                    with contextlib.suppress(pj.Error):
                        account.shutdown()
                    destroy_now(account)
            self._direct = None
            self._refuser = None
            self._accounts.clear()
            try:
                with _pjlib_stdout_to_log():  # pjsua's last shutdown lines come after our writer is gone
                    ep.libDestroy()
            except pj.Error as exc:
                log_event(log, "sip.destroy_error", logging.WARNING, error=exc.info())
        self._ep = None
        del ep
        self._log_writer = None
        if SipEndpoint._running is self:
            SipEndpoint._running = None
        for waiters in self._reg_waiters.values():
            for d in waiters:
                d.errback(RuntimeError("endpoint stopped before registration finished"))
        self._reg_waiters.clear()
        log_event(log, "sip.stopped")

    # ------------------------------------------------------------------ trunks

    def registration(self, trunk: str) -> RegistrationState | None:
        return self._reg.get(trunk)

    def registered(self, trunk: str) -> defer.Deferred[RegistrationState]:
        """Fires with the trunk's first registration outcome; fails with `RegistrationFailed` on a SIP error."""
        settings = self.config.trunk(trunk)
        if not settings.registers:
            return defer.succeed(RegistrationState(trunk, True, 0, "IP-authenticated trunk, no REGISTER"))
        state = self._reg.get(trunk)
        if state is not None:
            return defer.succeed(state) if state.registered else defer.fail(RegistrationFailed(state))
        d: defer.Deferred[RegistrationState] = defer.Deferred()
        self._reg_waiters.setdefault(trunk, []).append(d)
        return d

    def add_registration_listener(self, listener: Callable[[RegistrationState], None]) -> None:
        """`listener(state)` on the reactor after every REGISTER outcome (first, refresh, failure)."""
        self._reg_listeners.append(listener)

    def _on_reg_state(self, state: RegistrationState) -> None:
        if not state.trunk:
            return
        self._reg[state.trunk] = state
        for listener in list(self._reg_listeners):
            listener(state)
        level = logging.INFO if state.registered else logging.ERROR
        log_event(log, "trunk.registration", level, trunk=state.trunk, code=state.code, sip_reason=state.reason)
        for d in self._reg_waiters.pop(state.trunk, []):
            if state.registered:
                d.callback(state)
            else:
                d.errback(RegistrationFailed(state))

    # ------------------------------------------------------------------ calls

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def free_call_slots(self) -> int:
        """Calls that can be placed now: pjsua slots not held by live or still-timing-out calls."""
        return max(0, self.max_calls - calls_in_use(len(self._calls))) if self._ep is not None else 0

    def dial(
        self,
        target: str,
        trunk: str | None = None,
        *,
        record_path: Path | str | None = None,
        max_seconds: float | None = None,
        caller_id: str | None = None,
    ) -> defer.Deferred[Call]:
        """Call `target` (a SIP URI, or a number when a trunk is given); fires with the answered Call.

        `caller_id` replaces the trunk's caller ID in the From user part for this call (a campaign's
        own number). Fails with `DialFailure` (disposition, SIP code, reason, early media) for every
        unanswered outcome, and with `ValueError` for a target, trunk or caller ID we cannot use.
        """
        if self._ep is None:
            return defer.fail(RuntimeError("endpoint is not started"))
        try:
            uri, account = self._route(target, trunk)
            local_uri = self._from_uri(caller_id, trunk) if caller_id else None
        except TrunkUnavailable as exc:
            st = exc.state
            reason = f"trunk {st.trunk!r} is not registered: {st.code} {st.reason}"
            return defer.fail(DialFailure(TRUNK_ERROR, st.code, reason))
        except (ValueError, ConfigError) as exc:
            return defer.fail(exc)
        if max_seconds is not None and max_seconds <= 0:
            return defer.fail(ValueError(f"max_seconds must be positive, not {max_seconds}"))
        now = self.reactor.seconds()
        while self._recent_dials and self._recent_dials[0] < now - IOQUEUE_KEY_REUSE_S:
            self._recent_dials.popleft()
        in_use = calls_in_use(len(self._calls))
        if 2 * (in_use + len(self._recent_dials)) + 2 > IOQUEUE_HANDLES:
            # Each call registers two sockets; pjlib's select ioqueue has 64 slots and hands a slot
            # back only ~0.5 s after its socket closes. Running out is an assertion abort, so a burst
            # above ~25 dials in 0.6 s is refused instead (trunks are configured far below that).
            reason = "dial burst too fast for the media socket table; retry in a second"
            log_event(log, "call.refused_burst", logging.WARNING, recent=len(self._recent_dials))
            return defer.fail(EndpointBusy(reason))
        if in_use >= self.max_calls:
            # pjsua aborts the process (not an error return) on some paths past its slot table, and
            # calls that timed out unanswered keep their slot until pjsip's Timer B: refuse here.
            reason = f"endpoint is at its limit of {self.max_calls} simultaneous calls ({in_use} in progress)"
            log_event(log, "call.refused_capacity", logging.WARNING, in_use=in_use, limit=self.max_calls)
            return defer.fail(EndpointBusy(reason))
        call = self._new_call(account, uri, trunk, "call",
                              record_path=Path(record_path) if record_path is not None else None,
                              max_seconds=max_seconds)
        result = call.dial_result()
        self._calls.add(call)
        self._recent_dials.append(now)
        try:
            call.make_call(uri, local_uri)
        except pj.Error as exc:
            reason = exc.info().strip() or "INVITE could not be sent"
            call._fail(TRUNK_ERROR, None, reason)
            self.release_call(call)
        log_event(log, "call.invite_sent", call_id=call.call_id, callee=uri, trunk=trunk, caller=local_uri)
        return result

    def _ring_incoming(self, account: pj.Account, prm: pj.OnIncomingCallParam, source: str) -> bool:
        """pjsua2 callback (reactor thread): a trunk INVITE becomes a ringing `Call` for `on_trunk_call`.

        False (the caller refuses it as before) without an answerer or for an INVITE we cannot read.
        """
        answerer = self.on_trunk_call
        if answerer is None:
            return False
        try:
            parties = invite_parties(str(prm.rdata.wholeMsg))
        except ValueError as exc:
            log_event(log, "sip.incoming_unreadable", logging.WARNING, source=source, error=str(exc))
            return False
        trunk = self.trusted_sources.trunk_of(source)
        call = self._new_call(account, f"sip:{parties.caller}@{source_ip(source)}", trunk, "in",
                              incoming_call_id=prm.callId)
        self._calls.add(call)
        live = call._live
        with contextlib.suppress(pj.Error):
            call.call_id = str(live.getInfo().callIdString) if live is not None else ""
        call.answer_incoming(180)
        log_event(log, "call.incoming", call_id=call.call_id, caller=parties.caller, dialed=parties.dialed,
                  trunk=trunk, source=source)
        self.reactor.callFromThread(answerer, IncomingCall(call, trunk, parties.caller, parties.dialed, source))
        return True

    def _new_call(
        self, account: pj.Account, uri: str, trunk: str | None, port_prefix: str, *,
        record_path: Path | None = None, max_seconds: float | None = None, incoming_call_id: int | None = None,
    ) -> Call:
        """A `Call` on this endpoint's media and call settings (outbound, or a ringing inbound one)."""
        self._port_seq += 1
        return Call(
            self, account, uri, clock_rate=self.config.media.clock_rate, relay=self.relay, record_path=record_path,
            max_seconds=max_seconds if max_seconds is not None else self.config.calls.max_call_seconds,
            ring_timeout_s=self.config.calls.ring_timeout_s, local_name=f"{port_prefix}{self._port_seq}",
            trunk=trunk, agent_uri=self.config.trunk(trunk).agent_uri if trunk is not None else None,
            rtp_timeout_s=self.config.media.rtp_timeout_seconds, bot_frames=self.bot_frames,
            incoming_call_id=incoming_call_id,
        )

    def _from_uri(self, caller_id: str, trunk: str | None) -> str:
        """The From URI of the account the call goes out on, with `caller_id` as its user part."""
        user = check_caller_id(caller_id)
        if trunk is None:
            return f"sip:{user}@{self.config.sip.bind_address}:{self.local_port}"
        return f"sip:{user}@{self.config.trunk(trunk).uri_host}"

    def _route(self, target: str, trunk: str | None) -> tuple[str, _TrunkAccount]:
        target = target.strip()
        if not target:
            raise ValueError("empty call target")
        if trunk is None:
            if not target.startswith(("sip:", "sips:")):
                raise ValueError(f"without a trunk the target must be a SIP URI, not {target!r}")
            assert self._direct is not None
            return target, self._direct
        settings = self.config.trunk(trunk)
        account = self._accounts[settings.name]
        state = self._reg.get(settings.name)
        if settings.registers and state is not None and not state.registered:
            raise TrunkUnavailable(state)
        if target.startswith(("sip:", "sips:")):
            return target, account
        number = target.replace(" ", "").replace("-", "")
        if not number.lstrip("+").isdigit():
            raise ValueError(f"not a phone number: {target!r}")
        return f"sip:{number}@{settings.uri_host}", account

    def release_call(self, call: Call) -> None:
        """Forget a finished call (`CallOwner`); its pjsua2 objects are deleted on a later poll, outside callbacks."""
        if call in self._calls:
            self._calls.discard(call)
        pj_call, port = call.detach_pjsua()
        if pj_call is not None or port is not None:
            self._graveyard.append((pj_call, port))

    def _bury(self) -> None:
        graves, self._graveyard = self._graveyard, []
        for pj_call, port in graves:
            destroy_now(pj_call)
            if isinstance(port, CallMediaPort):
                port.detach()
            destroy_now(port)


@contextlib.contextmanager
def _pjlib_stdout_to_log() -> Iterator[None]:
    """Catch what pjlib prints on fd 1 while our LogWriter is not installed, and log it instead.

    pjlib announces itself (libCreate) and its shutdown (the end of libDestroy) with printf, before
    `libInit` installs our writer and after the library drops it; on stdout that breaks
    `server.py call --json` and the demo's table. The lines go to `telephony.pjsip` at INFO, masked
    like every log line. C stdio is flushed before fd 1 comes back so nothing buffered leaks later.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as caught:
        try:
            os.dup2(caught.fileno(), 1)
            yield
        finally:
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines():
                if line.strip():
                    pjlog.info("%s", line.strip())


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)

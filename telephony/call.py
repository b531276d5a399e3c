"""One outbound call: pjsua2 callbacks on one side, reactor-owned state and the public API on the other.

`_PjCall` is the pjsua2 object. Its callbacks run on whichever pjsua2 thread raised them; they read
what they need from pjsua2 right there (the parameter objects die with the callback) and hand plain
values to `Call` with `reactor.callFromThread`. Only media wiring (connecting the conference ports
when the SDP negotiation completes) is done inside the callback, as pjsua2 expects.

`Call` lives on the reactor. It is handed to the dialer when the call is answered and stays the one
place that knows the call's state, timings and listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pjsua2 as pj
from twisted.internet import defer
from twisted.python.failure import Failure

from telemetry.logging import log_event
from telephony.dispositions import CANCELED, NO_ANSWER, CallTimings, DialFailure, disposition_for
from telephony.events import (
    DTMF_RFC2833,
    DTMF_SIP_INFO,
    HANGUP_BY_BOT,
    HANGUP_BY_REMOTE,
    CallEnded,
    DtmfReceived,
    InfoReceived,
    TransferResult,
)
from telephony.media import BotFrameTally, CallMediaPort, FrameRelay, destroy_now
from telephony.pjlib import respond_in_dialog
from telephony.playback import PlaybackQueue
from telephony.recording import StereoRecorder
from telephony.sip_text import DTMF_PLAIN, DTMF_RELAY, parse_request

log = logging.getLogger("telephony.call")


class CallOwner(Protocol):
    """What a Call needs of the endpoint that placed or took it (telephony.endpoint.SipEndpoint)."""

    reactor: Any

    def release_call(self, call: Call) -> None:
        """Forget the ended call; its pjsua2 objects are deleted later, outside pjsua2's callbacks."""

FrameConsumer = Callable[[bytes, float], None]
EventListener = Callable[[Any], None]

_PJSUA_ANSWERS_INFO = frozenset({DTMF_RELAY, "application/media_control+xml"})
EARLY_MEDIA_MAX_S = 60.0  # a carrier announcement is shorter; cap memory if a peer streams forever
RTP_CHECK_S = 1.0  # how often an answered call's received-RTP counter is read for the media timeout


class _PjCall(pj.Call):
    """pjsua2 side of a call. Every method here may run on a pjsua2 thread."""

    def __init__(self, owner: Call, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self._owner = owner
        self._call_from_thread = owner.reactor.callFromThread
        self.media_connected = False
        self.gone = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        self._call_from_thread(self._owner._on_state, ci.state, ci.lastStatusCode, ci.lastReason, ci.callIdString)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # pjsua reuses call slots round-robin (only 4 in the pjsua2-python wheel). A Call object
            # deleted later would clear the user data of whichever new call got its slot, and that
            # call's callbacks would be lost; deleting it here, while the slot is still ours, is safe.
            self.gone = True
            destroy_now(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for i, media in enumerate(ci.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            port = self._owner._port
            if port is None:
                return
            audio = pj.AudioMedia.typecastFromMedia(self.getMedia(i))
            audio.startTransmit(port)
            port.startTransmit(audio)
            if not self.media_connected:
                self.media_connected = True
                self._call_from_thread(self._owner._on_media_active, ci.state)
            return

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        method = DTMF_SIP_INFO if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else DTMF_RFC2833
        self._call_from_thread(self._owner._on_dtmf, str(prm.digit), method)

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = event.body.tsxState.tsx
        if tsx.role != pj.PJSIP_ROLE_UAS or tsx.method != "INFO" or tsx.state != pj.PJSIP_TSX_STATE_TRYING:
            return
        if event.body.tsxState.type != pj.PJSIP_EVENT_RX_MSG:
            return
        rdata = event.body.tsxState.src.rdata
        whole = str(rdata.wholeMsg)
        try:
            request = parse_request(whole)
        except ValueError:
            respond_in_dialog(rdata, 400)
            self._call_from_thread(self._owner._on_info, whole)  # logs why it was dropped
            return
        if request.content_type in _PJSUA_ANSWERS_INFO:
            return  # pjsua answers these itself and reports DTMF through onDtmfDigit
        # pjsua leaves other INFO bodies to us; unanswered, the dialog layer would send 500.
        respond_in_dialog(rdata, 200)
        if request.content_type or request.body.strip():  # an empty INFO is only a keep-alive
            self._call_from_thread(self._owner._on_info, whole)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        code, reason, final = int(prm.statusCode), str(prm.reason), bool(prm.finalNotify)
        if final or code >= 300:
            prm.cont = False
        self._call_from_thread(self._owner._on_transfer_status, code, reason, final)


class Call:
    """A call, from INVITE to its one `CallEnded`: outbound, or inbound (`incoming_call_id` given).

    Handed out answered (by `SipEndpoint.dial`, or by `IncomingCall.answer`); all methods and callbacks
    run on the reactor. `t` values are seconds since answer, counted in media ticks, so they line up
    with the recording. An inbound call rings (180) until it is answered or refused.
    """

    def __init__(
        self,
        endpoint: CallOwner,
        account: pj.Account,
        target: str,
        *,
        clock_rate: int,
        relay: FrameRelay,
        record_path: Path | None,
        max_seconds: float,
        ring_timeout_s: float,
        local_name: str,
        trunk: str | None = None,
        agent_uri: str | None = None,
        rtp_timeout_s: float = 0.0,
        bot_frames: BotFrameTally | None = None,
        incoming_call_id: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.incoming = incoming_call_id is not None
        self.reactor = endpoint.reactor
        self.target = target
        self.trunk = trunk
        self.agent_uri = agent_uri
        self.clock_rate = clock_rate
        self.frame_bytes = clock_rate // 50 * 2
        self.call_id = ""  # SIP Call-ID, known once the INVITE is out
        self.playback = PlaybackQueue(self.frame_bytes, self.reactor.callFromThread)
        self.record_path = record_path
        self.max_seconds = max_seconds
        self.dtmf_digits = ""
        self.sip_code = 0
        self.sip_reason = ""
        self._invite_sent_at = self.reactor.seconds()
        self._ringing_at: float | None = None
        self._answered_at: float | None = None
        self._ended_at: float | None = None
        self._answered = False
        self._finished = False
        self._end_reason: str | None = None
        self._hangup_by: str | None = None
        self._ended_event: CallEnded | None = None
        self._ended_waiters: list[defer.Deferred[CallEnded]] = []
        self._dial_result: defer.Deferred[Call] | None = defer.Deferred()
        self._listeners: list[EventListener] = []
        self._consumer: FrameConsumer | None = None
        self._ticks = 0
        self._early: list[bytes] = []
        self._early_bytes_max = int(EARLY_MEDIA_MAX_S * clock_rate * 2)
        self._early_bytes = 0
        self._recorder: StereoRecorder | None = None
        self._ring_timer: Any = None
        self._max_timer: Any = None
        self.rtp_timeout_s = rtp_timeout_s
        self._rtp_timer: Any = None
        self._rtp_seen = -1
        self._rtp_last_at = 0.0
        self._transfer: defer.Deferred[TransferResult] | None = None
        self._port: CallMediaPort | None = CallMediaPort(
            local_name, clock_rate, self.playback, relay, self._on_tick, bot_frames
        )
        self._pj: _PjCall | None = _PjCall(
            self, account, pj.PJSUA_INVALID_ID if incoming_call_id is None else incoming_call_id)
        self._ring_timer = self.reactor.callLater(ring_timeout_s, self._ring_timeout)

    # ------------------------------------------------------------------ public API (reactor thread)

    @property
    def _live(self) -> _PjCall | None:
        """The pjsua2 call while it exists; never touch `_pj` after pjsua2 has disconnected it."""
        pj_call = self._pj
        return None if pj_call is None or pj_call.gone else pj_call

    @property
    def answered(self) -> bool:
        return self._answered

    @property
    def is_over(self) -> bool:
        return self._finished

    @property
    def early_media(self) -> bytes:
        """Audio heard before the answer (183 with SDP: ringback or a carrier announcement), 16-bit PCM."""
        return b"".join(self._early)

    @property
    def timings(self) -> CallTimings:
        return CallTimings(self._invite_sent_at, self._ringing_at, self._answered_at, self._ended_at)

    @property
    def ended(self) -> defer.Deferred[CallEnded]:
        """A fresh Deferred per access, firing with the one `CallEnded`; callers cannot disturb each other."""
        d: defer.Deferred[CallEnded] = defer.Deferred()
        if self._ended_event is not None:
            d.callback(self._ended_event)
        else:
            self._ended_waiters.append(d)
        return d

    def media_stats(self) -> dict[str, int]:
        """RTP and jitter-buffer counters of the audio stream so far (empty when there is no media).

        Tells network loss (`rx_lost`) apart from frames the jitter buffer dropped or had to invent
        (`jb_discarded`, `jb_lost`, `jb_empty`), for QA and the benchmark.
        """
        live = self._live
        if live is None:
            return {}
        try:
            stat = live.getStreamStat(0)
        except pj.Error:
            return {}
        rx, jb = stat.rtcp.rxStat, stat.jbuf
        return {
            "rx_packets": int(rx.pkt), "rx_lost": int(rx.loss), "rx_discarded": int(rx.discard),
            "tx_packets": int(stat.rtcp.txStat.pkt), "jb_discarded": int(jb.discard),
            "jb_lost": int(jb.lost), "jb_empty": int(jb.empty), "jb_avg_delay_ms": int(jb.avgDelayMsec),
        }

    def set_frame_consumer(self, consumer: FrameConsumer | None) -> None:
        """`consumer(frame, t)` gets every borrower frame (16-bit PCM, 20 ms) on the reactor."""
        self._consumer = consumer

    def add_event_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def remove_event_listener(self, listener: EventListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def send_dtmf(self, digits: str) -> str:
        """Send digits as RFC 2833 events, or by SIP INFO when the peer did not offer telephone-event.

        Returns the method used (`rfc2833` | `sip_info`); refuses anything that is not a DTMF key.
        """
        bad = [d for d in digits if d not in "0123456789*#ABCD"]
        if bad or not digits:
            raise ValueError(f"not DTMF digits: {digits!r}")
        live = self._live
        if live is None or not self._answered or self._finished:
            raise RuntimeError("DTMF can only be sent on an answered call that is still up")
        try:
            live.dialDtmf(digits)
            return DTMF_RFC2833
        except pj.Error:
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = digits
            prm.duration = 160
            try:
                live.sendDtmf(prm)
            except pj.Error as exc:
                raise RuntimeError(f"DTMF could not be sent: {exc.info().strip()}") from None
            return DTMF_SIP_INFO

    def transfer(self, uri: str | None = None) -> defer.Deferred[TransferResult]:
        """Blind transfer (REFER). Fires with the target's final answer; on success the bot hangs up.

        Without `uri` the call goes to its trunk's `agent_uri` (the human-agent queue).
        """
        if uri is None:
            uri = self.agent_uri
            if uri is None:
                where = "this direct call" if self.trunk is None else f"trunk {self.trunk!r}"
                return defer.fail(ValueError(f"no transfer target given and no agent_uri configured for {where}"))
        if not uri.startswith(("sip:", "sips:")):
            return defer.fail(ValueError(f"transfer target must be a SIP URI, not {uri!r}"))
        live = self._live
        if live is None or not self._answered or self._finished:
            return defer.fail(RuntimeError("only an answered call that is still up can be transferred"))
        if self._transfer is not None:
            return defer.fail(RuntimeError("a transfer is already in progress"))
        self._transfer = defer.Deferred()
        result = self._transfer
        try:
            live.xfer(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            self._transfer = None
            return defer.fail(RuntimeError(f"REFER could not be sent: {exc.info()}"))
        log_event(log, "call.transfer_sent", call_id=self.call_id, uri=uri)
        return result

    def hangup(self, reason: str = "local_hangup") -> defer.Deferred[CallEnded]:
        """End the call from our side; fires with the `CallEnded` (once pjsua2 confirms, or at once if over)."""
        waiter = self.ended
        if self._finished:
            return waiter
        if self._hangup_by is None:
            self._hangup_by = HANGUP_BY_BOT
            self._end_reason = reason
        self._pj_hangup(603 if not self._answered else 200)
        return waiter

    def answer_incoming(self, code: int = 200) -> None:
        """Inbound only: send a provisional (180) or the final 200 OK; `dial_result()` fires once confirmed."""
        if not self.incoming or self._finished:
            return
        live = self._live
        if live is None:
            return
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        try:
            live.answer(prm)
        except pj.Error as exc:
            log_event(log, "call.answer_failed", logging.WARNING, call_id=self.call_id, code=code, error=exc.info())
            if code >= 200:
                self._pj_hangup(500)

    def refuse_incoming(self, code: int, reason: str) -> None:
        """Inbound only: end a ringing call with a final error response (486 busy, 480 unavailable...)."""
        if not self.incoming or self._answered or self._finished:
            return
        self._hangup_by = HANGUP_BY_BOT
        self._end_reason = reason
        self._pj_hangup(code)

    # ------------------------------------------------------------------ internals (reactor thread)

    def make_call(self, uri: str, local_uri: str | None = None) -> None:
        """Send the INVITE (From: `local_uri` when given, else the account's); pjsua2 errors are `trunk_error`."""
        assert self._pj is not None
        self._invite_sent_at = self.reactor.seconds()
        prm = pj.CallOpParam(True)
        if local_uri:
            prm.txOption.localUri = local_uri
        self._pj.makeCall(uri, prm)
        try:
            live = self._live
            self.call_id = live.getInfo().callIdString if live is not None else ""
        except pj.Error:
            self.call_id = ""

    def dial_result(self) -> defer.Deferred[Call]:
        assert self._dial_result is not None
        return self._dial_result

    def _pj_hangup(self, code: int) -> None:
        live = self._live
        if live is None:
            return
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        try:
            live.hangup(prm)
        except pj.Error as exc:
            # Already disconnecting inside pjsua2; the DISCONNECTED state will still arrive.
            log_event(log, "call.hangup_ignored", logging.DEBUG, call_id=self.call_id, error=exc.info())

    def _emit(self, event: object) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("call event listener failed")

    def _on_state(self, state: int, code: int, reason: str, sip_call_id: str) -> None:
        if sip_call_id:
            self.call_id = sip_call_id
        if code:
            self.sip_code, self.sip_reason = code, reason
        now = self.reactor.seconds()
        if state == pj.PJSIP_INV_STATE_EARLY and self._ringing_at is None and code in (180, 181, 182, 183):
            self._ringing_at = now
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and not self._answered:
            self._on_answered(now)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._on_disconnected(now, code, reason)

    def _on_answered(self, now: float) -> None:
        if self._finished:
            # A 200 OK that crossed our CANCEL: the dialer has its answer already. pjsip sends the
            # BYE itself after a CANCEL; asking again is harmless and covers any path that did not.
            self._pj_hangup(200)
            return
        self._answered = True
        self._answered_at = now
        self._cancel_timer(self._ring_timer)
        self._ring_timer = None
        if self.record_path is not None:
            try:
                self._recorder = StereoRecorder(self.record_path, self.clock_rate)
            except OSError as exc:
                log_event(log, "call.recording_failed", logging.ERROR, call_id=self.call_id, phase="start",
                          error=str(exc))
                self.record_path = None
        self._ticks = 0
        if self._port is not None:
            self._port.sending = True
        self._max_timer = self.reactor.callLater(self.max_seconds, self._max_duration)
        if self.rtp_timeout_s > 0:
            self._rtp_last_at = now
            self._rtp_timer = self.reactor.callLater(RTP_CHECK_S, self._check_rtp)
        log_event(log, "call.answered", call_id=self.call_id, callee=self.target)
        d, self._dial_result = self._dial_result, None
        if d is not None:
            d.callback(self)

    def _on_media_active(self, state: int) -> None:
        log_event(log, "call.media_active", logging.DEBUG, call_id=self.call_id, early=not self._answered)

    def _on_tick(self, bot: bytes, borrower: bytes) -> None:
        if self._finished:
            return
        if not self._answered:
            if self._early_bytes < self._early_bytes_max:
                self._early.append(borrower)
                self._early_bytes += len(borrower)
            return
        t = self._ticks * 0.02
        self._ticks += 1
        if self._recorder is not None:
            try:
                self._recorder.write(bot, borrower)
            except OSError as exc:
                self._recording_lost(exc)
        if self._consumer is not None:
            try:
                self._consumer(borrower, t)
            except Exception:
                log.exception("frame consumer failed; frames keep flowing")

    def _recording_lost(self, exc: OSError) -> None:
        """The recording cannot be written (disk full, quota, file too large): the call goes on without it.

        Logged once; the call keeps its recording path only if some audio reached the disk intact.
        """
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        recorder.abandon()
        kept = recorder.frames_on_disk
        log_event(log, "call.recording_failed", logging.ERROR, call_id=self.call_id, phase="during_call",
                  error=exc.strerror or str(exc), seconds_kept=round(kept * 0.02, 2))
        if kept == 0:
            self.record_path = None

    def _close_recorder(self) -> None:
        if self._recorder is None:
            return
        try:
            self._recorder.close()
        except OSError as exc:  # the last flush failed: same as failing mid-call
            self._recording_lost(exc)
        self._recorder = None

    def _on_dtmf(self, digit: str, method: str) -> None:
        if self._finished:
            return
        self.dtmf_digits += digit
        self._emit(DtmfReceived(digit, method, self._ticks * 0.02))

    def _on_info(self, whole_msg: str) -> None:
        if self._finished:
            return
        try:
            request = parse_request(whole_msg)
        except ValueError as exc:
            log_event(log, "call.info_dropped", logging.WARNING, call_id=self.call_id, error=str(exc))
            return
        if request.content_type == DTMF_RELAY:
            return  # pjsua2 reports these through onDtmfDigit
        if request.content_type == DTMF_PLAIN:  # body is the bare key
            digit = request.body.strip().upper()
            if len(digit) == 1 and digit in "0123456789*#ABCD":
                self._on_dtmf(digit, DTMF_SIP_INFO)
            else:
                log_event(log, "call.info_dropped", logging.WARNING, call_id=self.call_id, error="bad application/dtmf")
            return
        self._emit(InfoReceived(request.content_type, request.body, self._ticks * 0.02))

    def _on_transfer_status(self, code: int, reason: str, final: bool) -> None:
        if self._transfer is None or not (final or code >= 300):
            return
        d, self._transfer = self._transfer, None
        accepted = 200 <= code < 300
        log_event(log, "call.transfer_result", call_id=self.call_id, code=code, accepted=accepted)
        if accepted and not self._finished:
            self._hangup_by = HANGUP_BY_BOT
            self._end_reason = "transferred"
            self._pj_hangup(200)
        d.callback(TransferResult(accepted, code, reason))

    def _ring_timeout(self) -> None:
        self._ring_timer = None
        if self._answered or self._finished:
            return
        log_event(log, "call.ring_timeout", call_id=self.call_id, callee=self.target)
        self._pj_hangup(480 if self.incoming else 487)
        # A peer that never sent a provisional response cannot be CANCELed: pjsip keeps the INVITE
        # transaction until Timer B. The dialer must not wait that long, so report now.
        self._fail(NO_ANSWER, 408, "ring timeout")

    def _check_rtp(self) -> None:
        """Hang up a call whose peer has sent no RTP for `rtp_timeout_s` (a dead phone or NAT path).

        The media port keeps ticking without RTP (the jitter buffer invents silence), so the frames
        cannot tell; the stream's received-packet counter can, and reading it once a second is cheap.
        """
        self._rtp_timer = None
        if self._finished:
            return
        now = self.reactor.seconds()
        received = self.media_stats().get("rx_packets", 0)
        if received != self._rtp_seen:
            self._rtp_seen = received
            self._rtp_last_at = now
        silent_s = now - self._rtp_last_at
        if silent_s >= self.rtp_timeout_s:
            log_event(log, "call.media_timeout", logging.WARNING, call_id=self.call_id,
                      silent_s=round(silent_s, 1), rx_packets=received)
            self.hangup("media_timeout")
            return
        self._rtp_timer = self.reactor.callLater(RTP_CHECK_S, self._check_rtp)

    def _max_duration(self) -> None:
        self._max_timer = None
        if not self._finished:
            self.hangup("max_duration")

    def cancel(self) -> None:
        """Abandon an unanswered call (the dialer's Deferred fails with `canceled`)."""
        if self._answered or self._finished:
            return
        self._pj_hangup(487)
        self._fail(CANCELED, 487, "canceled by caller")

    def _fail(self, disposition: str, code: int | None, reason: str) -> None:
        d, self._dial_result = self._dial_result, None
        self._ended_at = self.reactor.seconds()
        self._finished = True
        self._cancel_timer(self._ring_timer)
        self._ring_timer = None
        if self._port is not None:
            self._port.detach()
        log_event(log, "call.failed", call_id=self.call_id, callee=self.target, disposition=disposition, code=code)
        if d is not None:
            early = b"".join(self._early)
            d.errback(
                Failure(DialFailure(disposition, code, reason, early, call_id=self.call_id, timings=self.timings))
            )
        self._early = []

    def _on_disconnected(self, now: float, code: int, reason: str) -> None:
        if not self._answered:
            if not self._finished:
                if self._hangup_by == HANGUP_BY_BOT:
                    self._fail(CANCELED, code or 487, reason or "canceled")
                else:
                    self._fail(disposition_for(code), code or None, reason or "no final response")
            self.endpoint.release_call(self)
            return
        if self._finished:
            self.endpoint.release_call(self)
            return
        self._finished = True
        self._ended_at = now
        self._cancel_timer(self._max_timer)
        self._max_timer = None
        self._cancel_timer(self._rtp_timer)
        self._rtp_timer = None
        if self._port is not None:
            self._port.detach()
        self.playback.cut()
        self._close_recorder()
        hangup_by = self._hangup_by or HANGUP_BY_REMOTE
        end_reason = self._end_reason or ("remote_bye" if hangup_by == HANGUP_BY_REMOTE else "local_hangup")
        if self._transfer is not None:
            d, self._transfer = self._transfer, None
            d.callback(TransferResult(False, code, "call ended before the transfer completed"))
        event = CallEnded(
            call_id=self.call_id,
            reason=end_reason,
            hangup_by=hangup_by,
            sip_code=self.sip_code,
            sip_reason=self.sip_reason,
            timings=self.timings,
            recording=str(self.record_path) if self.record_path is not None else None,
            dtmf=self.dtmf_digits,
        )
        self._ended_event = event
        log_event(
            log, "call.ended", call_id=self.call_id, reason=end_reason, hangup_by=hangup_by,
            duration_s=round(event.duration_s, 2),
        )
        self.endpoint.release_call(self)
        self._emit(event)
        waiters, self._ended_waiters = self._ended_waiters, []
        for w in waiters:
            w.callback(event)

    def end_for_shutdown(self) -> None:
        """The endpoint is stopping: report the end now, pjsua2 objects are released by the endpoint."""
        if self._finished:
            return
        if not self._answered:
            self._fail(CANCELED, None, "endpoint stopped")
            return
        if self._hangup_by is None:
            self._hangup_by = HANGUP_BY_BOT
            self._end_reason = "endpoint_stopped"
        self._on_disconnected(self.reactor.seconds(), self.sip_code, self.sip_reason)

    def detach_pjsua(self) -> tuple[_PjCall | None, CallMediaPort | None]:
        """Hand the pjsua2 objects to the endpoint, which deletes them in a safe order."""
        pj_call, port = self._pj, self._port
        self._pj, self._port = None, None
        self._close_recorder()
        return pj_call, port

    @staticmethod
    def _cancel_timer(timer: Any) -> None:
        if timer is not None and timer.active():
            timer.cancel()


@dataclass(frozen=True)
class IncomingCall:
    """An INVITE from a trunk, ringing (180) until the application answers or refuses it (reactor thread).

    `caller` is the From user part (the borrower's number as the carrier sends it), `dialed` the
    request-URI user (our caller ID), `source` the address it came from, `trunk` the trunk on that IP.
    """

    call: Call
    trunk: str | None
    caller: str
    dialed: str
    source: str

    def answer(
        self, *, record_path: Path | str | None = None, max_seconds: float | None = None
    ) -> defer.Deferred[Call]:
        """200 OK; fires with the Call once the caller's ACK confirms it, fails with `DialFailure` if it
        was gone first (the caller hung up while it rang)."""
        call = self.call
        if call.is_over:
            return defer.fail(DialFailure(CANCELED, call.sip_code or None, "the caller hung up before the answer",
                                          call_id=call.call_id, timings=call.timings))
        if record_path is not None:
            call.record_path = Path(record_path)
        if max_seconds is not None and max_seconds > 0:
            call.max_seconds = max_seconds
        result = call.dial_result()
        call.answer_incoming(200)
        return result

    def refuse(self, code: int, reason: str) -> None:
        """Final error response (486 Busy Here, 480 Temporarily Unavailable...); no session, nothing answered."""
        call = self.call
        if call.is_over:
            return
        call.dial_result().addErrback(lambda _f: None)
        call.refuse_incoming(code, reason)

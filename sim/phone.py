"""The simulated borrower's phone: a separate process that answers SIP calls on loopback as personas.

    python -m sim.phone --port 0 [--numbers config/demo/sim_numbers.toml] [--personas sim/personas.toml]

It runs its own pjsua2 Endpoint (one per process) under a Twisted reactor: pjsua2 is polled from the
reactor thread (`threadCnt = 0`), so every SIP callback already runs there; only the media clock
thread calls the audio port, and it just copies frames. Each line is announced with a SIP INFO
(`application/x-sim-transcript`, UTF-8 words) right before its audio goes out, because no Mandarin
ASR model exists on these machines: the bot's `sim` recognizer reads the words, while VAD, RTP,
barge-in and timing stay real.

Standard output carries one JSON object per line: first `{"event": "ready", "port": N}`, then call
events (answered, bot speech start/end, lines started/finished, hang-ups). SIGTERM or SIGINT hangs
up any call in progress and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import weakref
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pjsua2 as pj
from twisted.internet import reactor as _global_reactor
from twisted.internet import threads
from twisted.internet.task import LoopingCall

from config.errors import ConfigError
from pcm.frames import bytes_per_frame
from sim.personas import (
    DEFAULT_PERSONAS_TOML,
    REFUSAL_CODES,
    Persona,
    PersonaBook,
    PersonaLine,
    choose_persona,
    load_number_map,
    load_personas,
)
from sim.turns import BotSpeechDetector, TurnEvent, TurnTaker
from sim.voice import EspeakVoice, Voice
from telemetry.mask import mask_text
from telephony.playback import PlaybackQueue

TRANSCRIPT_CONTENT_TYPE = "application/x-sim-transcript"
_REQUEST_LINE = re.compile(r"^INVITE\s+sips?:([^@;>\s]+)@", re.MULTILINE)

EventSink = Callable[[dict[str, Any]], None]


def dialed_user(invite: str) -> str:
    """User part of the INVITE's request-URI (`INVITE sip:13900000001@127.0.0.1:5090 SIP/2.0`)."""
    match = _REQUEST_LINE.search(invite)
    if match is None:
        raise ValueError("INVITE without a user part in its request-URI")
    return match.group(1)


class _Port(pj.AudioMediaPort):
    """Bridge between pjsua2's media clock and the reactor: copies frames, nothing else."""

    def __init__(self, queue: PlaybackQueue, on_frame: Callable[[bytes], None], hand_off: Callable[..., Any]) -> None:
        super().__init__()
        self._queue = queue
        self._on_frame = on_frame
        self._hand_off = hand_off

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(self._queue.pull())
        frame.size = self._queue.frame_bytes

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            self._hand_off(self._on_frame, bytes(frame.buf))


class SimCall(pj.Call):
    """One incoming call played by one persona."""

    def __init__(self, phone: SimPhone, account: pj.Account, call_id: int, seq: int, dialed: str) -> None:
        super().__init__(account, call_id)
        self.phone = phone
        self.seq = seq
        self.dialed = dialed
        self.persona: Persona | None = None
        self.audio: list[bytes] = []
        self.queue = PlaybackQueue(bytes_per_frame(phone.rate), phone.reactor.callFromThread)
        self.port: _Port | None = None
        self.taker: TurnTaker | None = None
        self.media_up = False
        self.ended = False
        self._max_timer: Any = None

    # -- life cycle ---------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        persona = self.persona.name if self.persona else None
        self.phone.emit({"event": event, "call": self.seq, "persona": persona, **fields})

    def start(self, persona: Persona | None) -> None:
        self.persona = persona
        if persona is None:
            self.emit("call.refused", code=404, dialed=mask_text(self.dialed))
            self._respond(404)
            return
        self.emit("call.incoming", dialed=mask_text(self.dialed), answer=persona.answer)
        if persona.answer in REFUSAL_CODES:
            self._respond(REFUSAL_CODES[persona.answer])
            return
        self._respond(180)
        if persona.answer == "no_answer":
            return
        rendering = threads.deferToThread(self._render, persona)
        rendering.addCallback(self._ready_to_answer, persona)
        rendering.addErrback(self._render_failed)

    def _render(self, persona: Persona) -> list[bytes]:
        rate = self.phone.rate
        return [self.phone.voice.render(line.text, rate).astype("<i2").tobytes() for line in persona.lines]

    def _ready_to_answer(self, audio: list[bytes], persona: Persona) -> None:
        self.audio = audio
        self.phone.reactor.callLater(persona.ring_ms / 1000, self._answer)

    def _render_failed(self, failure: Any) -> None:
        self.emit("call.error", reason=f"voice: {failure.getErrorMessage()}")
        self._respond(500)

    def _answer(self) -> None:
        if not self.ended:
            self._respond(200)

    def _respond(self, code: int) -> None:
        if self.ended:
            return
        prm = pj.CallOpParam()
        prm.statusCode = code
        try:
            self.answer(prm)
        except pj.Error as exc:
            self.emit("call.error", reason=f"answer {code}: {exc.info()}")

    def hang_up(self, reason: str) -> None:
        if self.ended:
            return
        self.emit("call.hangup", by="sim", reason=reason)
        try:
            self.hangup(pj.CallOpParam())
        except pj.Error as exc:
            self.emit("call.error", reason=f"hangup: {exc.info()}")

    # -- pjsua2 callbacks (reactor thread: pjsua2 is polled from it) ---------------------------
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self.media_up or self.persona is None or self.ended:
            return
        try:
            media = self.getAudioMedia(-1)
        except pj.Error:
            return  # no active audio yet; a later media-state change brings it
        self.media_up = True
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = self.phone.rate
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20_000
        self.taker = TurnTaker(
            self.persona,
            self.phone.reactor,
            is_speech=BotSpeechDetector(self.phone.rate),
            speak=self._speak,
            hang_up=self.hang_up,
            report=self._report,
            reply_gap_ms=self.phone.book.reply_gap_ms,
        )
        self.port = _Port(self.queue, self.taker.bot_frame, self.phone.reactor.callFromThread)
        self.port.createPort(f"sim{self.seq}", fmt)
        media.startTransmit(self.port)
        self.port.startTransmit(media)
        self.emit("call.answered")
        self.taker.answered()
        self._max_timer = self.phone.reactor.callLater(self.phone.book.max_call_s, self.hang_up, "max_call_s")

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            info = self.getInfo()
        except pj.Error as exc:
            self.emit("call.error", reason=f"call state: {exc.info()}")
            return
        if info.state != pj.PJSIP_INV_STATE_DISCONNECTED or self.ended:
            return
        self.ended = True
        # Nothing may keep this object alive once pjsua reuses the call slot: pjsua2's ~Call() clears
        # the slot's user data and hangs up whatever call then holds it.
        if self._max_timer is not None and self._max_timer.active():
            self._max_timer.cancel()
        self._max_timer = None
        if self.taker is not None:
            self.taker.stop()
        self.queue.cut()
        self.emit("call.ended", code=int(info.lastStatusCode), reason=str(info.lastReason))
        # pjsua2 is still inside this call's callback: drop our references on the next tick.
        self.phone.reactor.callLater(0, self.phone.forget, self)

    # -- speaking -----------------------------------------------------------------------------
    def _speak(self, index: int, line: PersonaLine) -> None:
        prm = pj.CallSendRequestParam()
        prm.method = "INFO"
        prm.txOption.contentType = TRANSCRIPT_CONTENT_TYPE
        prm.txOption.msgBody = line.text
        try:
            self.sendRequest(prm)
        except pj.Error as exc:
            self.emit("call.error", reason=f"INFO: {exc.info()}")
        this = weakref.ref(self)  # queued callbacks must not keep a pjsua2 call alive past libDestroy

        def done(played: int, cut: bool) -> None:
            call = this()
            if call is not None:
                call._line_done(index, played)

        self.queue.enqueue(self.audio[index], on_done=done)

    def _line_done(self, index: int, frames_played: int) -> None:
        if self.taker is not None:
            self.taker.line_finished(index)

    def _report(self, event: TurnEvent) -> None:
        fields = asdict(event)
        self.emit(_EVENT_NAMES[type(event).__name__], **fields)


_EVENT_NAMES = {
    "BotSpeechStarted": "bot.speech_started",
    "BotSpeechEnded": "bot.speech_ended",
    "LineStarted": "line.started",
    "LineFinished": "line.finished",
    "HangingUp": "persona.hangup",
}


class _Account(pj.Account):
    def __init__(self, phone: SimPhone) -> None:
        super().__init__()
        self.phone = phone

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.phone.incoming(self, prm)


class SimPhone:
    """The pjsua2 endpoint, its account and the calls in progress."""

    def __init__(
        self,
        reactor: Any,
        book: PersonaBook,
        numbers: dict[str, str],
        voice: Voice,
        *,
        port: int = 0,
        rate: int = 8000,
        emit: EventSink,
    ) -> None:
        self.reactor = reactor
        self.book = book
        self.numbers = numbers
        self.voice = voice
        self.rate = rate
        self.emit = emit
        self._requested_port = port
        self.port = 0
        self.calls: dict[int, SimCall] = {}
        self._seq = 0
        self._ep = pj.Endpoint()
        self._account: _Account | None = None
        self._poll = LoopingCall(self._ep.libHandleEvents, 0)

    def start(self) -> int:
        ep = self._ep
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = 4  # the pjsua2-python wheel is compiled with PJSUA_MAX_CALLS = 4
        cfg.uaConfig.userAgent = "sim-borrower"
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.clockRate = self.rate
        cfg.medConfig.sndClockRate = self.rate
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = self._requested_port
        tcfg.boundAddress = "127.0.0.1"
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        ep.libStart()
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 0)
        ep.codecSetPriority("PCMA/8000/1", 255)
        ep.codecSetPriority("PCMU/8000/1", 254)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:borrower@127.0.0.1:{self.port}"
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        self._account = _Account(self)
        self._account.create(acfg)
        self._poll.start(0.005)
        return self.port

    def incoming(self, account: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        self._seq += 1
        try:
            dialed = dialed_user(prm.rdata.wholeMsg)
        except ValueError:
            dialed = ""
        call = SimCall(self, account, prm.callId, self._seq, dialed)
        # Reported so tests can prove a finished call is freed before pjsua can reuse its slot.
        weakref.finalize(call, self.emit, {"event": "call.released", "call": call.seq})
        self.calls[call.seq] = call
        call.start(choose_persona(dialed, self.book, self.numbers))

    def dial(self, target: str, persona_name: str, caller: str) -> None:
        """Call `target` from `caller` (the From user: a borrower calling back) and play `persona_name` once
        the bot answers; the same turn-taking as an answered call (issue 14: inbound sessions)."""
        persona = self.book.personas.get(persona_name)
        if persona is None:
            raise ValueError(f"no persona {persona_name!r} in the persona book")
        if self._account is None:
            raise RuntimeError("the sim phone is not started")
        self._seq += 1
        call = SimCall(self, self._account, pj.PJSUA_INVALID_ID, self._seq, target)
        weakref.finalize(call, self.emit, {"event": "call.released", "call": call.seq})
        self.calls[call.seq] = call
        call.persona = persona
        call.emit("call.dialing", target=mask_text(target), caller=mask_text(caller))
        rendering = threads.deferToThread(call._render, persona)

        def place(audio: list[bytes]) -> None:
            call.audio = audio
            prm = pj.CallOpParam(True)
            prm.txOption.localUri = f"sip:{caller}@127.0.0.1:{self.port}"
            try:
                call.makeCall(target, prm)
            except pj.Error as exc:
                call.emit("call.error", reason=f"INVITE: {exc.info()}")

        rendering.addCallback(place)
        rendering.addErrback(call._render_failed)

    def forget(self, call: SimCall) -> None:
        call.port = None
        call.taker = None
        self.calls.pop(call.seq, None)

    def stop(self) -> None:
        """Hang up what is in progress and give pjsua2 a moment to send the BYEs."""
        for _ in range(20):  # first take in what already arrived (a caller's BYE racing our SIGTERM)
            self._ep.libHandleEvents(5)
        for call in list(self.calls.values()):
            call.hang_up("sim_shutdown")
        for _ in range(40):
            self._ep.libHandleEvents(5)
            if not self.calls:
                break
        if self._poll.running:
            self._poll.stop()

    def destroy(self) -> None:
        """Free pjsua2 objects before the library: a Call or port outliving `libDestroy` aborts."""
        for delayed in self.reactor.getDelayedCalls():
            if delayed.active():
                delayed.cancel()  # pending timers hold references to calls
        self.calls.clear()
        self._account = None
        gc.collect()
        self._ep.libDestroy()


def _json_stdout(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.phone", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="UDP SIP port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--personas", type=Path, default=DEFAULT_PERSONAS_TOML, help="persona book (TOML)")
    parser.add_argument("--numbers", type=Path, help="dialed number -> persona map (TOML [numbers] table)")
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000), help="media clock rate")
    parser.add_argument("--cache", type=Path, default=Path("var/sim-voice"), help="espeak-ng render cache")
    parser.add_argument("--dial", metavar="SIP_URI", help="once ready, call this URI (a borrower calling back)")
    parser.add_argument("--dial-persona", default="cooperative_promise", help="who speaks on the --dial call")
    parser.add_argument("--dial-from", default="13800138000", help="the From user (caller number) of the --dial call")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        book = load_personas(args.personas)
        numbers = load_number_map(args.numbers, book) if args.numbers else {}
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    reactor: Any = _global_reactor
    voice = EspeakVoice(book.voice, cache_dir=args.cache)
    phone = SimPhone(reactor, book, numbers, voice, port=args.port, rate=args.rate, emit=_json_stdout)
    try:
        port = phone.start()
    except pj.Error as exc:
        print(f"sim phone could not start on 127.0.0.1:{args.port}: {exc.info()}", file=sys.stderr)
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", phone.stop)
    _json_stdout({"event": "ready", "port": port, "personas": sorted(book.personas), "rate": args.rate})
    if args.dial:
        try:
            phone.dial(args.dial, args.dial_persona, args.dial_from)
        except ValueError as exc:
            print(f"sim phone cannot dial: {exc}", file=sys.stderr)
            phone.destroy()
            return 2
    reactor.run()
    phone.destroy()
    _json_stdout({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`AnsweredCallRunner` for the campaign dialer: wires one answered call into a `CallSession`.

Heavy things are shared per process and passed in (recognizer with its Vosk model, intent
classifier, script library, prompt renderer with its caches, the render thread pool); everything
per call (speech input, dialogue state, player) is built here and dropped when the call ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from asr.recognizer import Recognizer
from asr.sim_recognizer import CONTENT_TYPE as SIM_TRANSCRIPT
from asr.speech_input import SpeechInput
from asr.vad import build_frame_classifier
from config.server_config import ServerConfig
from dialogue.borrower import Borrower
from dialogue.intents.model import IntentClassifier
from dialogue.manager import DialogueManager
from dialogue.scripts import ScriptLibrary
from dialogue.segments import Segment
from prompts.renderer import PromptRenderer
from prompts.warmup import prepare_borrower
from session.call_session import CallSession, SessionSettings
from session.conversation import DialogueConversation
from session.latency import TurnLatencyObserved
from session.ports import ConversationEnded
from session.record import CallRecord
from session.speech import EarlyEndpointing, SilenceWatch, SpeechRouter
from session.voice import PlayerVoice, RenderedPrompts
from telemetry.logging import log_event
from telemetry.metrics import REGISTRY, Registry
from telephony.events import CallEnded, DtmfReceived, InfoReceived
from telephony.playback import PlaybackQueue

log = logging.getLogger(__name__)

END_WAIT_S = 10.0  # after the session is done, how long to wait for SIP to confirm the end


def local_date(timezone: str) -> dt.date:
    """Today where the borrower is: "明天" said at 23:30 Beijing time must not mean the day after."""
    return dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()


class AnsweredCall(Protocol):
    """The answered `telephony.call.Call` as the session uses it."""

    call_id: str
    clock_rate: int
    playback: PlaybackQueue
    sip_code: int
    sip_reason: str

    @property
    def ended(self) -> Deferred[CallEnded]: ...

    def set_frame_consumer(self, consumer: Callable[[bytes, float], None] | None) -> None: ...

    def add_event_listener(self, listener: Callable[[Any], None]) -> None: ...

    def hangup(self, reason: str = ...) -> Deferred[CallEnded]: ...

    def transfer(self, uri: str) -> Deferred[Any]: ...


@dataclass(frozen=True)
class CompleteAnswerByIntent:
    """A partial is a complete answer when the classifier is already sure what it means.

    Except a bare short yes/no/hello (up to `short_chars` characters): those are the replies most
    often continued after a breath ("yes, ... next Friday"), so they wait for the full hangover.
    """

    classifier: IntentClassifier
    min_confidence: float = 0.85
    never: frozenset[str] = frozenset({"other"})
    often_continued: frozenset[str] = frozenset({"affirm", "deny", "greeting"})
    short_chars: int = 3

    def __call__(self, text: str) -> bool:
        result = self.classifier.classify(text)
        if result.intent in self.never or result.confidence < self.min_confidence:
            return False
        spoken = sum(1 for ch in text if ch.isalnum())
        return not (result.intent in self.often_continued and spoken <= self.short_chars)


def early_endpointing(config: ServerConfig) -> EarlyEndpointing:
    s = config.session
    return EarlyEndpointing(enabled=s.early_endpointing, silence_ms=s.early_silence_ms, confirm_ms=s.early_confirm_ms)


def silence_watch(config: ServerConfig, rate: int) -> SilenceWatch:
    """The VAD `[asr.vad] backend` names, watched for early endpointing (live calls and QA replay alike)."""
    return SilenceWatch(build_frame_classifier(rate, config.asr.vad, 20))


def complete_answer(config: ServerConfig, classifier: IntentClassifier) -> CompleteAnswerByIntent:
    return CompleteAnswerByIntent(classifier, min_confidence=config.session.early_min_confidence)


@dataclass
class SessionRunner:
    config: ServerConfig
    reactor: Any
    recognizer: Recognizer
    classifier: IntentClassifier
    library: ScriptLibrary
    renderer: PromptRenderer
    render_pool: ThreadPool | None
    segments: tuple[Segment, ...] = ()
    trunk: str | None = None
    today: Callable[[], dt.date] | None = None  # None: the borrower's local date
    metrics: Registry = REGISTRY
    on_latency: Callable[[TurnLatencyObserved], None] | None = None

    def __post_init__(self) -> None:
        self._v2v = self.metrics.histogram(
            "voicebot_voice_to_voice_seconds",
            "End of borrower speech (VAD) to the first bot frame handed to the media bridge",
        )
        self._asr = self.metrics.histogram(
            "voicebot_asr_final_seconds", "End of borrower speech (VAD) to the final transcript"
        )
        self._ended = self.metrics.counter("voicebot_sessions_ended_total", "Answered calls by end reason", ["reason"])
        self._frames = self.metrics.counter("voicebot_borrower_frames_total", "Borrower frames handled by sessions")
        self._late = self.metrics.counter(
            "voicebot_borrower_frames_late_total",
            "Borrower frames that reached the session over 40 ms later than the best-observed lag",
        )

    def settings(self) -> SessionSettings:
        trunk = self.config.trunk(self.trunk) if self.trunk else (self.config.trunks[0] if self.config.trunks else None)
        return SessionSettings(
            no_input_timeout_s=self.config.dialogue.no_input_timeout_s,
            max_call_seconds=self.config.calls.max_call_seconds,
            hangup_on_machine=self.config.session.hangup_on_machine,
            agent_uri=trunk.agent_uri if trunk else None,
        )

    def run(self, call: Any, borrower: Borrower, segment: Segment | None, attempt_id: str) -> Deferred[CallRecord]:
        """Never fails: whatever goes wrong is in the record's `end_reason`."""
        try:
            return self._run(call, borrower, segment, attempt_id)
        except Exception:
            failure = Failure()
            log_event(log, "session.setup_failed", logging.ERROR, call_id=call.call_id, error=str(failure.value))
            hung = call.hangup()
            kind = failure.type.__name__ if failure.type is not None else "Error"
            result = ConversationEnded(f"error: setup: {kind}: {failure.getErrorMessage()}", "bot")
            return self._record(call, borrower, attempt_id, None, result, hung)

    def _run(
        self, call: AnsweredCall, borrower: Borrower, segment: Segment | None, attempt_id: str
    ) -> Deferred[CallRecord]:
        today = self.today() if self.today is not None else local_date(borrower.timezone)
        manager = DialogueManager(
            self.library,
            self.classifier,
            today,
            script_set=segment.script_set if segment is not None else None,
            segments=None if segment is not None else self.segments,
            config=self.config.dialogue,
            agent_available=self.settings().agent_uri is not None,  # C9: no agent, no "transferring"
            now=None if self.today is not None else (  # callback times ("in an hour") in the borrower's zone
                lambda: dt.datetime.now(zoneinfo.ZoneInfo(borrower.timezone)).replace(tzinfo=None)),
        )
        session = CallSession(
            call_id=call.call_id,
            reactor=self.reactor,
            control=call,
            voice=PlayerVoice(call.playback, self.reactor),
            conversation=DialogueConversation(manager, borrower),
            prompts=RenderedPrompts(self.renderer, call.clock_rate, self.reactor, self.render_pool),
            settings=self.settings(),
            on_latency=self._latency,
        )
        watch = silence_watch(self.config, call.clock_rate)
        router = SpeechRouter(session, self.reactor, watch, complete_answer(self.config, self.classifier),
                              early_endpointing(self.config))
        speech = SpeechInput(
            self.recognizer, self.config.asr, call.clock_rate, router, self.reactor, classifier=watch,
            call_id=call.call_id,
        )
        router.attach(speech)

        def on_event(event: Any) -> None:
            if isinstance(event, DtmfReceived):
                session.dtmf(event.digit)
            elif isinstance(event, InfoReceived) and event.content_type == SIM_TRANSCRIPT:
                router.hint(event.body)
            elif isinstance(event, CallEnded):
                session.remote_hangup("remote_hangup" if event.hangup_by == "remote" else event.reason)

        call.add_event_listener(on_event)
        call.set_frame_consumer(session.frame_received)
        done = session.start(router)
        if self.render_pool is not None and manager.script_set is not None:
            # Borrower variables (name, amount, dates) rendered while the opening plays.
            warm = deferToThreadPool(
                self.reactor, self.render_pool, prepare_borrower, self.renderer, self.library,
                manager.script_set.id, borrower, today, call.clock_rate,
            )
            warm.addErrback(
                lambda f: log_event(log, "session.prepare_failed", logging.WARNING, call_id=call.call_id,
                                    error=f.getErrorMessage())
            )

        def finished(result: ConversationEnded) -> Deferred[CallRecord]:
            call.set_frame_consumer(None)
            self._ended.inc(reason=result.end_reason.split(":")[0])
            self._frames.inc(session.frames_seen)
            self._late.inc(session.frames_late)
            script_set = manager.script_set.id if manager.script_set is not None else None
            return self._record(call, borrower, attempt_id, script_set, result, call.ended)

        return done.addCallback(finished)

    def _latency(self, observed: TurnLatencyObserved) -> None:
        self._v2v.observe(observed.latency_ms / 1000.0)
        if observed.asr_latency_ms is not None:
            self._asr.observe(observed.asr_latency_ms / 1000.0)
        if self.on_latency is not None:
            self.on_latency(observed)

    def _record(
        self,
        call: AnsweredCall,
        borrower: Borrower,
        attempt_id: str,
        script_set: str | None,
        result: ConversationEnded,
        ended: Deferred[CallEnded],
    ) -> Deferred[CallRecord]:
        """Wait (bounded) for SIP to confirm the end, then merge SIP facts and the conversation."""
        out: Deferred[CallRecord] = Deferred()
        timer = self.reactor.callLater(END_WAIT_S, lambda: _fire(None))

        def _fire(event: CallEnded | None) -> None:
            if out.called:
                return
            if timer.active():
                timer.cancel()
            out.callback(self._build(call, borrower, attempt_id, script_set, result, event))

        ended.addCallbacks(_fire, lambda _: _fire(None))
        return out

    def _build(
        self,
        call: AnsweredCall,
        borrower: Borrower,
        attempt_id: str,
        script_set: str | None,
        result: ConversationEnded,
        event: CallEnded | None,
    ) -> CallRecord:
        timings = event.timings if event is not None else getattr(call, "timings", None)
        hangup_by = result.hangup_by or (event.hangup_by if event is not None else None)
        return CallRecord(
            call_id=call.call_id,
            borrower_id=borrower.id,
            attempt_id=attempt_id,
            trunk=self.trunk,
            script_set=script_set,
            disposition="answered",
            sip_code=event.sip_code if event is not None else (call.sip_code or 200),
            sip_reason=event.sip_reason if event is not None else call.sip_reason,
            invite_sent_at=timings.invite_sent_at if timings is not None else time.time(),
            ringing_at=timings.ringing_at if timings is not None else None,
            answered_at=timings.answered_at if timings is not None else None,
            ended_at=(timings.ended_at if timings is not None else None) or time.time(),
            hangup_by=hangup_by,
            end_reason=result.end_reason,
            recording=event.recording if event is not None else getattr(call, "record_path", None),
            outcome=result.outcome,
            turns=result.turns,
            likely_machine=result.likely_machine,
            recognizer=self.recognizer.name,
            dtmf=event.dtmf if event is not None and event.dtmf else result.dtmf,
        )

"""The conversation loop of one answered call, driven entirely by events on the reactor.

Borrower audio reaches the session only as speech events (from asr), keypresses and the remote
hang-up (from telephony); the session answers with prompts on the call's playback queue. Every
event handler is guarded: whatever goes wrong inside one call ends *that* call with a reason and a
record, and never propagates into the reactor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from session.latency import CallClock, TurnLatencyObserved
from session.ports import (
    BotAudio,
    BotMove,
    BotVoice,
    Conversation,
    ConversationEnded,
    DelayedCall,
    EndCall,
    Listen,
    Played,
    PromptSource,
    ReactorTime,
    Say,
    SpeechFeed,
    TransferCall,
    Understanding,
)
from session.record import TurnRecord
from telemetry.logging import log_event

log = logging.getLogger(__name__)

HANGUP_WAIT_S = 10.0
# After a borrower resumed speaking in the pause that followed an early final: if no utterance
# starts within this long (hangover + start window), the resumption was noise and the first part
# is answered alone.
CARRY_WAIT_S = 0.6
LATE_FRAME_S = 0.04  # same threshold as bench/calls.py: two frame periods behind the media clock


class CallControl(Protocol):
    """Hanging up and transferring: the only things the session asks of the SIP call itself."""

    def hangup(self) -> Deferred[Any]: ...

    def transfer(self, uri: str) -> Deferred[Any]: ...


@dataclass(frozen=True)
class SessionSettings:
    no_input_timeout_s: float = 6.0
    max_call_seconds: float = 300.0
    hangup_on_machine: bool = True
    agent_uri: str | None = None


class _TurnDraft:
    """A turn being filled in: borrower side first, bot side when its prompt plays."""

    def __init__(self, index: int, event: str) -> None:
        self.index = index
        self.event = event
        self.speech_start_s: float | None = None
        self.speech_end_s: float | None = None
        self.heard_text = ""
        self.partials = 0
        self.intent: str | None = None
        self.confidence: float | None = None
        self.identity_confirmed: bool | None = None
        self.node = ""
        self.prompt_text = ""
        self.prompt_parts: tuple[str, ...] = ()
        self.interruptible = True
        self.frames_total = 0
        self.frames_played = 0
        self.interrupted = False
        self.latency_ms: float | None = None
        self.asr_latency_ms: float | None = None
        self.barge_in_s: float | None = None

    def freeze(self) -> TurnRecord:
        return TurnRecord(
            index=self.index,
            speech_start_s=self.speech_start_s,
            speech_end_s=self.speech_end_s,
            heard_text=self.heard_text,
            partials=self.partials,
            intent=self.intent,
            confidence=self.confidence,
            node=self.node,
            prompt_text=self.prompt_text,
            interruptible=self.interruptible,
            prompt_frames_total=self.frames_total,
            prompt_frames_played=self.frames_played,
            interrupted=self.interrupted,
            latency_ms=self.latency_ms,
            asr_latency_ms=self.asr_latency_ms,
            event=self.event,
            prompt_parts=self.prompt_parts,
            identity_confirmed=self.identity_confirmed,
            barge_in_s=self.barge_in_s,
        )


class _Heard:
    """Borrower speech between SpeechStarted and the final transcript."""

    def __init__(self) -> None:
        self.start_s: float | None = None
        self.end_s: float | None = None
        self.partials = 0


@dataclass(frozen=True)
class _Final:
    text: str
    confidence: float | None
    t: float
    heard: _Heard


class _PauseCheck:
    """An utterance ended early: is the pause after it the end of the turn or only a comma?

    The answer waits until the router reports the pause long enough (`pause_confirmed`) or the
    borrower speaking again (`speech_resumed`); in the second case the early final is carried into
    the next utterance's final, so one sentence stays one turn.
    """

    def __init__(self, start_s: float | None) -> None:
        self.start_s = start_s
        self.verdict: str | None = None  # None (judging) | "confirmed" | "resumed"
        self.final: _Final | None = None


class CallSession:
    """Runs one conversation to its end; `ended` fires with a `ConversationEnded`, never errbacks."""

    def __init__(
        self,
        *,
        call_id: str,
        reactor: ReactorTime,
        control: CallControl,
        voice: BotVoice,
        conversation: Conversation,
        prompts: PromptSource,
        settings: SessionSettings,
        on_latency: Callable[[TurnLatencyObserved], None] | None = None,
    ) -> None:
        self.call_id = call_id
        self._reactor = reactor
        self._control = control
        self._voice = voice
        self._conversation = conversation
        self._prompts = prompts
        self._settings = settings
        self._on_latency = on_latency
        self._feed: SpeechFeed | None = None
        self.clock = CallClock()
        self.ended: Deferred[ConversationEnded] = Deferred()
        self._turns: list[_TurnDraft] = []
        self._done_turns: list[TurnRecord] = []
        self._heard: _Heard | None = None
        self._playing: list[tuple[_TurnDraft, bool]] = []  # (turn, interruptible) per queued prompt
        self._rendering = 0  # prompts being rendered (bot is "thinking")
        self._held: list[tuple[str, float | None, float, _Heard]] = []  # finals heard during a locked prompt
        self._pause: _PauseCheck | None = None  # the early-ended utterance whose pause is being judged
        self._carry: _Final | None = None  # first part of a sentence the borrower went on with
        self._carry_timer: DelayedCall | None = None
        self.merged_turns = 0  # early finals joined with the speech that resumed after them
        self._after_playback: Callable[[], None] | None = None
        self._no_input: DelayedCall | None = None
        self._max_duration: DelayedCall | None = None
        self._finished = False
        self._likely_machine = False
        self._dtmf = ""
        self._transfer_uri: str | None = None
        self._errors: list[str] = []
        self.frames_seen = 0
        self.frames_late = 0  # reached the reactor LATE_FRAME_S later than the best-observed lag

    # -- life cycle -------------------------------------------------------------------------

    def start(self, feed: SpeechFeed) -> Deferred[ConversationEnded]:
        """Begin with the opening prompt; call once the call is answered and media flows."""
        self._feed = feed
        self.clock.anchor(self._reactor.seconds())
        self._max_duration = self._reactor.callLater(self._settings.max_call_seconds, self._max_duration_hit)
        self._guarded("opening", lambda: self._run(self._conversation.start(), self._new_turn("opening")))
        return self.ended

    def frame_received(self, frame: bytes, t: float) -> None:
        """Borrower frame (reactor thread): keeps the call clock honest, then feeds VAD/ASR."""
        if self._finished or self._feed is None:
            return
        now = self._reactor.seconds()
        self.clock.observe(t, now)
        self.frames_seen += 1
        if self.clock.call_time(now) - t > LATE_FRAME_S:
            self.frames_late += 1
        feed = self._feed
        self._guarded("speech input", lambda: feed.push(frame, t))

    def recognizer_failed(self, error: str) -> None:
        """The recognizer raised: this call can no longer hear the borrower, so it ends `error` now."""
        if self._finished:
            return
        message = f"recognizer: {error}"
        self._errors.append(message)
        log_event(log, "session.failed", logging.ERROR, call_id=self.call_id, where="recognizer", error=message)
        self._finish(f"error: {message}", hangup_by="bot", hang_up=True)

    def remote_hangup(self, reason: str = "remote_hangup") -> None:
        self._finish(reason, hangup_by="remote", hang_up=False)

    def dtmf(self, digit: str) -> None:
        if self._finished:
            return
        self._dtmf += digit
        self._cancel_no_input()
        if self._playing:
            self._voice.barge_in()  # a key press interrupts like speech (never a disclosure)
        self._guarded("dtmf", lambda: self._run(self._conversation.on_dtmf(digit), self._new_turn("dtmf")))

    # -- speech events (SpeechListener) -----------------------------------------------------

    def speech_started(self, t: float) -> None:
        if self._finished:
            return
        self._cancel_no_input()
        if self._carry_timer is not None and self._carry_timer.active():
            self._carry_timer.cancel()  # the rest of the sentence is coming: its final carries the first part
        self._carry_timer = None
        self._heard = _Heard()
        self._heard.start_s = t

    def speech_ended(self, t: float, *, early: bool = False) -> None:
        """`early`: ended by early endpointing, so the pause after it is judged before answering."""
        if self._finished:
            return
        if self._heard is None:
            self._heard = _Heard()
        self._heard.end_s = t
        if early:
            self._pause = _PauseCheck(self._heard.start_s)

    def pause_confirmed(self, t: float) -> None:
        """The silence after an early end reached the confirmation length: answer the early final."""
        pause = self._pause
        if self._finished or pause is None:
            return
        pause.verdict = "confirmed"
        if pause.final is not None:
            self._pause = None
            self._deliver(pause.final)

    def speech_resumed(self, t: float) -> None:
        """Speech came back inside the pause after an early end: the sentence goes on."""
        pause = self._pause
        if self._finished or pause is None:
            return
        pause.verdict = "resumed"
        log_event(log, "session.early_end_resumed", call_id=self.call_id, t=round(t, 3))
        if pause.final is not None:
            self._pause = None
            self._hold_carry(pause.final)

    def partial(self, text: str, t: float) -> None:
        if self._heard is not None and text:
            self._heard.partials += 1

    def barge_in(self, t: float) -> None:
        """Cut an interruptible prompt at once: the next media tick already sends silence."""
        if self._finished or not self._playing:
            return
        current = self._playing[0][0]
        current.barge_in_s = t  # set first: the cut may report the prompt done before barge_in() returns
        if self._voice.barge_in():
            log_event(log, "session.barge_in", call_id=self.call_id, t=round(t, 3))

    def final(
        self,
        text: str,
        confidence: float | None,
        t: float,
        *,
        start_s: float | None = None,
        end_s: float | None = None,
        partials: int | None = None,
    ) -> None:
        """A final transcript; with its own boundaries it cannot be confused with speech started since."""
        if self._finished:
            return
        if start_s is not None and (self._heard is None or self._heard.start_s != start_s):
            heard = _Heard()  # the borrower already started a new utterance: keep that one open
            heard.start_s, heard.end_s, heard.partials = start_s, end_s, partials or 0
        else:
            heard = self._heard or _Heard()
            self._heard = None
            if partials is not None:
                heard.partials = partials
        text = text.strip()
        carry = self._carry
        if carry is not None and heard.start_s != carry.heard.start_s:
            self._carry = None
            self._cancel_carry_timer()
            text, confidence, heard = _merge(carry, text, confidence, heard)
            self.merged_turns += 1
            log_event(log, "session.early_final_merged", call_id=self.call_id, t=round(t, 3))
        pause = self._pause
        if pause is not None and start_s is not None and start_s == pause.start_s:
            if pause.verdict is None:
                pause.final = _Final(text, confidence, t, heard)  # answered once the pause is judged
                return
            self._pause = None
            if pause.verdict == "resumed" and text:
                self._hold_carry(_Final(text, confidence, t, heard))
                return
        self._deliver(_Final(text, confidence, t, heard))

    def _deliver(self, final: _Final) -> None:
        text, confidence, t, heard = final.text, final.confidence, final.t, final.heard
        if not text:
            self._arm_no_input()
            return
        if self._playing and not all(interruptible for _, interruptible in self._playing):
            self._held.append((text, confidence, t, heard))  # answered once the disclosure is over
            return
        if self._playing:
            # The prompt kept playing, so asr judged this a backchannel: nothing to answer.
            log_event(log, "session.backchannel_ignored", call_id=self.call_id, t=round(t, 3))
            return
        self._answer(text, confidence, t, heard)

    def likely_machine(self, t: float) -> None:
        if self._finished or self._likely_machine:
            return
        self._likely_machine = True
        log_event(log, "session.likely_machine", call_id=self.call_id, t=round(t, 3))
        if self._settings.hangup_on_machine:
            self._guarded("machine", lambda: self._run(self._conversation.on_machine(), self._new_turn("machine")))

    # -- answering --------------------------------------------------------------------------

    def _hold_carry(self, final: _Final) -> None:
        if not final.text:
            return
        self._carry = final
        self._cancel_carry_timer()
        if self._heard is None:  # no utterance started yet: it may have been a click, not speech
            self._carry_timer = self._reactor.callLater(CARRY_WAIT_S, self._carry_expired)

    def _carry_expired(self) -> None:
        self._carry_timer = None
        carry, self._carry = self._carry, None
        if self._finished or carry is None:
            return
        self._deliver(carry)

    def _cancel_carry_timer(self) -> None:
        if self._carry_timer is not None and self._carry_timer.active():
            self._carry_timer.cancel()
        self._carry_timer = None

    def _answer(self, text: str, confidence: float | None, t: float, heard: _Heard) -> None:
        turn = self._new_turn("utterance")
        turn.heard_text = text
        turn.partials = heard.partials
        turn.speech_start_s = heard.start_s
        turn.speech_end_s = heard.end_s
        if heard.end_s is not None:
            turn.asr_latency_ms = max(0.0, (t - heard.end_s) * 1000.0)
        self._guarded("utterance", lambda: self._run(self._conversation.on_utterance(text, confidence), turn))

    def _new_turn(self, event: str) -> _TurnDraft:
        turn = _TurnDraft(len(self._turns) + len(self._done_turns), event)  # open + closed: indexes never repeat
        self._turns.append(turn)
        return turn

    def _run(self, understood: Understanding, turn: _TurnDraft) -> None:
        turn.intent = understood.intent
        turn.confidence = understood.confidence
        turn.identity_confirmed = understood.identity_confirmed
        self._perform(understood.move, turn)

    def _perform(self, move: BotMove, turn: _TurnDraft) -> None:
        if isinstance(move, Say):
            self._say(move, turn, then=None)
        elif isinstance(move, EndCall):
            reason = move.reason
            if move.farewell is None:
                self._close_turn(turn)
                self._after_idle(lambda: self._finish(reason, hangup_by="bot", hang_up=True))
            else:
                # Nothing is answered after a farewell, so a barge-in would only cut it short.
                farewell = replace(move.farewell, interruptible=False)
                self._say(farewell, turn, then=lambda: self._finish(reason, hangup_by="bot", hang_up=True))
        elif isinstance(move, TransferCall):
            uri = move.uri or self._settings.agent_uri
            if move.announcement is None:
                self._close_turn(turn)
                self._after_idle(lambda: self._transfer(uri, move.reason))
            else:
                announcement = replace(move.announcement, interruptible=False)
                self._say(announcement, turn, then=lambda: self._transfer(uri, move.reason))
        elif isinstance(move, Listen):
            self._close_turn(turn)
            self._arm_no_input()
        else:
            raise TypeError(f"dialogue returned an unknown move {move!r}")

    def _say(self, say: Say, turn: _TurnDraft, then: Callable[[], None] | None) -> None:
        turn.node = say.node
        turn.interruptible = say.interruptible
        self._rendering += 1

        def rendered(audio: BotAudio) -> None:
            self._rendering -= 1
            if self._finished:
                return
            self._enqueue(audio, say, turn, then)

        def failed(failure: Failure) -> None:
            self._rendering -= 1
            self._fail("prompt", failure)

        self._prompts.render(say.prompt).addCallbacks(rendered, failed)

    def _enqueue(self, audio: BotAudio, say: Say, turn: _TurnDraft, then: Callable[[], None] | None) -> None:
        turn.prompt_text = audio.text
        turn.prompt_parts = audio.parts
        turn.frames_total = audio.frames
        entry = (turn, say.interruptible)
        self._playing.append(entry)
        if self._feed is not None:
            self._feed.bot_speaking(True, say.interruptible)

        def on_start() -> None:
            self._guarded("playback start", lambda: self._first_frame_out(turn))

        def on_done(played: Played) -> None:
            self._guarded(
                "playback done", lambda: self._prompt_done(entry, played.frames_played, played.interrupted, then)
            )

        self._voice.play(audio, say.interruptible, on_start).addCallbacks(
            on_done, lambda f: self._fail("playback", f)
        )

    def _first_frame_out(self, turn: _TurnDraft) -> None:
        if turn.speech_end_s is None or turn.latency_ms is not None:
            return
        now = self.clock.call_time(self._reactor.seconds())
        turn.latency_ms = max(0.0, (now - turn.speech_end_s) * 1000.0)
        if self._on_latency is not None:
            self._on_latency(TurnLatencyObserved(self.call_id, turn.index, turn.latency_ms, turn.asr_latency_ms))

    def _prompt_done(
        self,
        entry: tuple[_TurnDraft, bool],
        frames_played: int,
        interrupted: bool,
        then: Callable[[], None] | None,
    ) -> None:
        turn, _ = entry
        if not interrupted:
            turn.barge_in_s = None  # the barge-in did not cut it (a disclosure or a farewell)
        if entry in self._playing:
            self._playing.remove(entry)
        turn.frames_played = frames_played
        turn.interrupted = interrupted
        self._close_turn(turn)
        if self._finished:
            return
        if not self._playing and self._feed is not None:
            self._feed.bot_speaking(False, True)
        if then is not None and not interrupted:
            then()
            return
        if then is not None and interrupted:
            then()  # a cut farewell still ends the call
            return
        if self._playing or self._rendering:
            return
        if self._held:
            held, self._held = self._held, []
            merged = _Heard()
            merged.start_s, merged.end_s = held[0][3].start_s, held[-1][3].end_s
            merged.partials = sum(h[3].partials for h in held)
            confidences = [h[1] for h in held if h[1] is not None]
            confidence = min(confidences) if confidences else None
            self._answer("，".join(h[0] for h in held), confidence, held[-1][2], merged)
            return
        if self._after_playback is not None:
            pending, self._after_playback = self._after_playback, None
            pending()
            return
        if self._heard is None:
            self._arm_no_input()

    def _close_turn(self, turn: _TurnDraft) -> None:
        if turn in self._turns:
            self._turns.remove(turn)
            self._done_turns.append(turn.freeze())

    def _after_idle(self, action: Callable[[], None]) -> None:
        if self._playing or self._rendering:
            self._after_playback = action
        else:
            action()

    def _transfer(self, uri: str | None, reason: str) -> None:
        if uri is None:
            self._conversation.on_transfer_failed("transfer_unavailable")
            self._finish("transfer_unavailable", hangup_by="bot", hang_up=True)
            return
        self._transfer_uri = uri
        self._cancel_no_input()

        def done(_: object) -> None:
            self._finish(reason, hangup_by="bot", hang_up=False)

        def failed(failure: Failure) -> None:
            self._errors.append(f"transfer: {failure.getErrorMessage()}")
            self._conversation.on_transfer_failed("transfer_failed")
            self._finish("transfer_failed", hangup_by="bot", hang_up=True)

        self._control.transfer(uri).addCallbacks(done, failed)

    # -- timers -----------------------------------------------------------------------------

    def _arm_no_input(self) -> None:
        if self._finished or self._playing or self._rendering:
            return
        self._cancel_no_input()
        self._no_input = self._reactor.callLater(self._settings.no_input_timeout_s, self._no_input_hit)

    def _cancel_no_input(self) -> None:
        if self._no_input is not None and self._no_input.active():
            self._no_input.cancel()
        self._no_input = None

    def _no_input_hit(self) -> None:
        self._no_input = None
        if self._finished:
            return
        self._guarded("no input", lambda: self._run(self._conversation.on_no_input(), self._new_turn("no_input")))

    def _max_duration_hit(self) -> None:
        self._max_duration = None
        self._finish("max_duration", hangup_by="bot", hang_up=True)

    # -- ending -----------------------------------------------------------------------------

    def _guarded(self, where: str, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            self._fail(where, Failure())

    def _fail(self, where: str, failure: Failure) -> None:
        kind = failure.type.__name__ if failure.type is not None else "Error"
        message = f"{where}: {kind}: {failure.getErrorMessage()}"
        self._errors.append(message)
        log_event(log, "session.failed", logging.ERROR, call_id=self.call_id, where=where, error=message)
        self._finish(f"error: {message}", hangup_by="bot", hang_up=True)

    def _finish(self, reason: str, *, hangup_by: str | None, hang_up: bool) -> None:
        if self._finished:
            return
        self._finished = True
        self._cancel_no_input()
        self._cancel_carry_timer()
        if self._max_duration is not None and self._max_duration.active():
            self._max_duration.cancel()
        if self._playing:
            self._voice.stop()
        for turn in list(self._turns):
            self._close_turn(turn)
        if self._feed is not None:
            try:
                self._feed.close()
            except Exception as exc:  # closing must not stop the record from being written
                self._errors.append(f"speech input close: {exc}")
        outcome: dict[str, Any] | None
        try:
            outcome = self._conversation.outcome()
        except Exception as exc:
            outcome = None
            self._errors.append(f"outcome: {exc}")
        result = ConversationEnded(
            end_reason=reason,
            hangup_by=hangup_by,
            turns=tuple(sorted(self._done_turns, key=lambda t: t.index)),
            outcome=outcome,
            likely_machine=self._likely_machine,
            dtmf=self._dtmf,
            transfer_uri=self._transfer_uri,
            errors=tuple(self._errors),
        )
        log_event(log, "session.ended", call_id=self.call_id, reason=reason, turns=len(result.turns))
        hung: Deferred[Any] = succeed(None)
        if hang_up:
            try:
                hung = self._control.hangup()
            except Exception as exc:
                self._errors.append(f"hangup: {exc}")
        hung.addErrback(lambda f: log_event(log, "session.hangup_failed", call_id=self.call_id, error=str(f.value)))

        def report(_: object = None) -> None:
            if guard.active():
                guard.cancel()
            if not self.ended.called:
                self.ended.callback(result)

        # SIP should confirm the hang-up at once; the record must not wait forever if it never does.
        guard = self._reactor.callLater(HANGUP_WAIT_S, report)
        hung.addBoth(report)


def _merge(first: _Final, text: str, confidence: float | None, heard: _Heard) -> tuple[str, float | None, _Heard]:
    """One turn from an early final and the speech that went on after it."""
    merged = _Heard()
    merged.start_s = first.heard.start_s
    merged.end_s = heard.end_s if text and heard.end_s is not None else first.heard.end_s
    merged.partials = first.heard.partials + heard.partials
    known = [c for c in (first.confidence, confidence if text else None) if c is not None]
    joined = f"{first.text}，{text}" if text else first.text
    return joined, (min(known) if known else None), merged


def wall_clock() -> float:
    return time.time()

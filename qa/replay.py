"""Replay of a recorded call through the live pipeline: VAD, recognition, intents, dialogue, prompts.

The borrower channel (right) of the stereo recording is pushed frame by frame into the very same
`CallSession` the live call used, on a virtual clock. Recognizer work that is normally handed to a
thread pool runs inline (`InlinePool`), so a replay is deterministic and faster than real time, and
the bot's prompts are played out on a playback queue pulled once per frame, so barge-in and
"speech during a disclosure" happen exactly where the recording puts them.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from asr.recognizer import Recognizer
from asr.sim_recognizer import SimRecognizer
from asr.speech_input import SpeechInput
from config.server_config import ServerConfig
from dialogue.borrower import Borrower
from dialogue.intents.model import IntentClassifier
from dialogue.manager import DialogueManager
from dialogue.scripts import ScriptLibrary
from dialogue.segments import Segment
from pcm.frames import bytes_per_frame, iter_frames
from pcm.resample import resample
from pcm.wav import WavError, read_wav
from prompts.renderer import PromptRenderer
from session.call_session import CallSession, SessionSettings
from session.conversation import DialogueConversation
from session.ports import ConversationEnded, DelayedCall
from session.record import CallRecord, TurnRecord
from session.runner import complete_answer, early_endpointing, silence_watch
from session.speech import SpeechRouter
from session.voice import PlayerVoice, RenderedPrompts
from telephony.playback import PlaybackQueue

FRAME_S = 0.02
HINT_LEAD_S = 0.2  # the simulated phone's INFO arrives just before its audio
TAIL_S = 30.0  # after the recording ends, how long a bot-ended call may keep talking
SIM_NOTE = (
    "SIMULATION: the live call used the `sim` recognizer, so the stored turn texts stand in for the words; "
    "VAD, endpointing, barge-in, intents and dialogue are replayed for real"
)

WHISPER_NOTE = (
    "recognized with whisper: one result per utterance and no partials, so turns end on silence "
    "(no early endpointing on partials) and barge-in cannot wait for recognised characters"
)


class ReplayError(ValueError):
    """A recording or call that cannot be replayed; the message says which and why."""


class InlineReactor:
    """A virtual clock whose `callFromThread` runs at once: pool results land before the next frame."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def seconds(self) -> float:
        return self.clock.seconds()

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> DelayedCall:
        return self.clock.callLater(delay, callable, *args, **kw)

    def callFromThread(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        fn(*args, **kw)


class InlinePool:
    """The thread-pool interface `deferToThreadPool` uses, doing the work on the calling thread."""

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> None:
        try:
            result = fn(*args, **kw)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


class _ReplayControl:
    def __init__(self) -> None:
        self.hung_up = False
        self.transferred_to: str | None = None

    def hangup(self) -> Deferred[Any]:
        self.hung_up = True
        return succeed(None)

    def transfer(self, uri: str) -> Deferred[Any]:
        self.transferred_to = uri
        return succeed(None)


@dataclass
class ReplayKit:
    """What a replay shares across calls (loaded once for a batch)."""

    config: ServerConfig
    classifier: IntentClassifier
    library: ScriptLibrary
    renderer: PromptRenderer
    segments: tuple[Segment, ...]
    asr: Recognizer | None = None  # real recognition (vosk or whisper), built only when a replay needs it


@dataclass(frozen=True)
class ReplayResult:
    source: str
    recognizer: str
    notes: tuple[str, ...]
    script_set: str | None
    turns: tuple[TurnRecord, ...]
    outcome: dict[str, Any] | None
    end_reason: str
    audio_s: float
    elapsed_s: float

    @property
    def speed(self) -> float:
        """How many times faster than real time the replay ran."""
        return self.audio_s / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def borrower_channel(path: Path | str, rate: int) -> list[bytes]:
    """Right channel (borrower) of a stereo call recording, as 20 ms frames at `rate`."""
    audio = read_wav(path)
    if audio.channels != 2:
        raise ReplayError(
            f"{path}: a call recording is stereo (bot left, borrower right); this file has {audio.channels} channel(s)"
        )
    samples = resample(audio.channel("right"), audio.rate, rate)
    return list(iter_frames(samples, rate))


def call_day(record: CallRecord | None, timezone: str) -> dt.date | None:
    """The borrower's local date of the live call, so "下周五" resolves to the same day on replay."""
    if record is None or record.answered_at is None:
        return None
    return dt.datetime.fromtimestamp(record.answered_at, zoneinfo.ZoneInfo(timezone)).date()


def _agent_was_available(config: ServerConfig, live: CallRecord | None) -> bool:
    """Whether the live call could transfer (C9): its trunk's `agent_uri`, or any trunk's when the call is unknown."""
    trunks = [t for t in config.trunks if live is None or live.trunk is None or t.name == live.trunk]
    return any(t.agent_uri for t in trunks)


def replay_recording(
    recording: Path | str,
    borrower: Borrower,
    kit: ReplayKit,
    *,
    live: CallRecord | None = None,
    script_set: str | None = None,
    use_live_texts: bool | None = None,
    today: dt.date | None = None,
) -> ReplayResult:
    """Replay one recording; `live` (when known) supplies the date, the script set and sim texts."""
    started = time.perf_counter()
    rate = kit.config.media.clock_rate
    try:
        frames = borrower_channel(recording, rate)
    except WavError as exc:
        raise ReplayError(str(exc)) from None
    notes: list[str] = []
    sim = use_live_texts if use_live_texts is not None else (live is not None and live.recognizer == "sim")
    recognizer: Recognizer
    if sim:
        if live is None:
            raise ReplayError("stored turn texts can stand in for the words only when the live call record is known")
        recognizer = SimRecognizer()
        notes.append(SIM_NOTE)
    else:
        if kit.asr is None:
            raise ReplayError(
                "no recognizer for the audio: give --recognizer whisper (Mandarin, extra zh-asr) or --model DIR "
                "(a Vosk model folder)"
            )
        recognizer = kit.asr
        if recognizer.name == "whisper":
            notes.append(WHISPER_NOTE)
    chosen_set = script_set or (live.script_set if live is not None else None)
    if script_set and live is not None and live.script_set != script_set:
        notes.append(f"script set changed: live {live.script_set}, replay {script_set}")
    day = today or call_day(live, borrower.timezone) or dt.date.today()

    clock = Clock()
    clock.advance(1_000_000.0)
    reactor = InlineReactor(clock)
    queue = PlaybackQueue(bytes_per_frame(rate), lambda fn, *a: fn(*a))
    manager = DialogueManager(
        kit.library,
        kit.classifier,
        day,
        script_set=chosen_set,
        segments=None if chosen_set else kit.segments,
        config=kit.config.dialogue,
        agent_available=_agent_was_available(kit.config, live),
    )
    settings = SessionSettings(
        no_input_timeout_s=kit.config.dialogue.no_input_timeout_s,
        max_call_seconds=kit.config.calls.max_call_seconds,
        hangup_on_machine=kit.config.session.hangup_on_machine,
        agent_uri="sip:agent@replay.invalid",
    )
    control = _ReplayControl()
    session = CallSession(
        call_id=live.call_id if live is not None else Path(recording).stem,
        reactor=reactor,
        control=control,
        voice=PlayerVoice(queue, reactor),
        conversation=DialogueConversation(manager, borrower),
        prompts=RenderedPrompts(kit.renderer, rate, reactor, None),
        settings=settings,
    )
    watch = silence_watch(kit.config, rate)
    router = SpeechRouter(
        session, reactor, watch, complete_answer(kit.config, kit.classifier), early_endpointing(kit.config)
    )
    speech = SpeechInput(recognizer, kit.config.asr, rate, router, reactor, classifier=watch, call_id=session.call_id)
    router.attach(speech)
    hints = _hints(live) if sim else []
    result: list[ConversationEnded] = []
    session.start(router).addCallback(result.append)

    silence = b"\x00" * bytes_per_frame(rate)
    tail = 0 if live is not None and live.hangup_by == "remote" else int(TAIL_S / FRAME_S)
    for i in range(len(frames) + tail):
        if result:
            break
        t = i * FRAME_S
        while hints and hints[0][0] <= t:
            router.hint(hints.pop(0)[1])
        clock.advance(FRAME_S)
        session.frame_received(frames[i] if i < len(frames) else silence, t)
        queue.pull()
    if not result:
        session.remote_hangup("recording_ended")
    ended = result[0]
    return ReplayResult(
        source=str(recording),
        recognizer=recognizer.name,
        notes=tuple(notes),
        script_set=manager.script_set.id if manager.script_set is not None else chosen_set,
        turns=ended.turns,
        outcome=ended.outcome,
        end_reason=ended.end_reason,
        audio_s=len(frames) * FRAME_S,
        elapsed_s=time.perf_counter() - started,
    )


def _hints(live: CallRecord | None) -> list[tuple[float, str]]:
    if live is None:
        return []
    timed = [
        (max(0.0, t.speech_start_s - HINT_LEAD_S), t.heard_text)
        for t in sorted(live.turns, key=lambda t: t.index)
        if t.event == "utterance" and t.heard_text and t.speech_start_s is not None
    ]
    return sorted(timed, key=lambda h: h[0])

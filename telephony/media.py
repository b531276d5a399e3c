"""The media bridge: a pjsua2 conference port per call, and the hand-off of its frames to the reactor.

Runs on pjsua2's media clock thread (null audio device, one tick per 20 ms for all calls), so the
callbacks only copy bytes. Each tick the bridge asks the port for the bot frame (`onFrameRequested`,
pulled from the call's `PlaybackQueue`) and hands it the mixed borrower frame (`onFrameReceived`).
The port pairs the two of one tick and appends the pair to a `FrameRelay`, a deque the reactor drains
for all calls. The first frame after a drain wakes the reactor once (`callFromThread`), so the frames
of every call in one tick travel in one wake-up: no added latency beyond the reactor's own, and about
50 wake-ups a second per process, where the former 5 ms poll woke it 200 times a second whether
frames were there or not (and `callFromThread` per frame would wake it 50 times a second per call).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from telephony.playback import PlaybackQueue

log = logging.getLogger("telephony.media")

FrameSink = Callable[[bytes, bytes], None]  # (bot, borrower) for one tick, on the reactor

FRAME_S = 0.02
# pjmedia's clock catches up a late tick by ticking at once, unless it is over this far behind:
# then it drops the missed ticks and restarts from now (PJMEDIA_CLOCK_MAX_JUMP_MSEC).
CLOCK_MAX_JUMP_S = 0.5


def _vector_bytes_slow(vec: pj.ByteVector) -> bytes:
    return bytes(vec)


def _vector_bytes_fast(vec: pj.ByteVector) -> bytes:
    # A libstdc++ std::vector<unsigned char> starts with its begin and end pointers; reading them
    # directly copies a frame in ~5 us instead of ~300 us through SWIG's per-element iterator.
    begin, end = ctypes.cast(int(vec.this), ctypes.POINTER(ctypes.c_void_p * 2)).contents
    if not begin or not end:
        return b""
    return ctypes.string_at(begin, end - begin)


def _pick_vector_reader() -> Callable[[pj.ByteVector], bytes]:
    """Use the fast reader only if it reads a known vector correctly on this build."""
    probe = bytes(range(256)) + b"\x00\x7f\x80\xff"
    try:
        frame = pj.MediaFrame()
        frame.buf = pj.ByteVector(probe)
        if _vector_bytes_fast(frame.buf) == probe:
            return _vector_bytes_fast
    except (TypeError, ValueError, OSError, AttributeError):
        pass
    return _vector_bytes_slow


vector_bytes = _pick_vector_reader()


def _vector_begin(vec: pj.ByteVector) -> int:
    begin, _end = ctypes.cast(int(vec.this), ctypes.POINTER(ctypes.c_void_p * 2)).contents
    return int(begin or 0)


def _writer_works() -> bool:
    """Whether overwriting a vector's storage in place reads back right through SWIG on this build."""
    probe = bytes(range(256)) + b"\x00\x7f\x80\xff"
    try:
        vec = pj.ByteVector(bytes(len(probe)))
        begin = _vector_begin(vec)
        if not begin:
            return False
        ctypes.memmove(begin, probe, len(probe))
        frame = pj.MediaFrame()
        frame.buf = vec
        return bytes(frame.buf) == probe and bytes(vec) == probe
    except (TypeError, ValueError, OSError, AttributeError):
        return False


FAST_VECTOR_WRITES = _writer_works()


class FrameVector:
    """One reusable `ByteVector` of a frame's size, refilled in place for every outgoing frame.

    `pj.ByteVector(data)` converts a bytes object element by element through SWIG (~300 us per
    20 ms frame, on the media clock thread, with the GIL held); copying into an existing vector's
    storage is a memmove, and assigning the wrapped vector to `MediaFrame.buf` is one C++ copy.
    Only the media thread touches it. Falls back to the SWIG conversion where the layout probe
    failed or a frame has another size.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._vec = pj.ByteVector(bytes(size)) if FAST_VECTOR_WRITES else None
        self._begin = _vector_begin(self._vec) if self._vec is not None else 0

    def filled(self, data: bytes) -> pj.ByteVector:
        if self._begin and len(data) == self.size:
            ctypes.memmove(self._begin, data, self.size)
            return self._vec
        return pj.ByteVector(data)


_thread_state = threading.local()


def keep_thread_state() -> None:
    """Keep this (pjsua2-owned) thread's Python thread state alive between callbacks.

    SWIG's director callbacks enter Python with `PyGILState_Ensure` and leave with
    `PyGILState_Release`; on a thread Python did not create, that builds and destroys a whole thread
    state (and maps and unmaps its frame stack) on every call: twice per call per 20 ms tick on the
    media clock thread, most of that thread's CPU. One extra `PyGILState_Ensure`, never released,
    keeps the count above zero, so later callbacks only take and drop the GIL. The state is freed
    with the interpreter; a new clock thread (the library restarted) pins its own, because
    `threading.local` lives in the thread state.
    """
    if getattr(_thread_state, "kept", False):
        return
    ctypes.pythonapi.PyGILState_Ensure()
    _thread_state.kept = True


class FrameRelay:
    """Paired frames from the media thread, waiting for the reactor (deque appends are atomic).

    `wake` (optional) is called on the media thread by the first push after a drain; the endpoint
    passes one that schedules a drain on the reactor (`callFromThread`). All calls' frames of one
    media tick are pushed within microseconds of each other, so one wake-up usually carries every
    call's frame of that tick: at most one reactor wake per call per tick, about one per tick in
    practice, instead of polling. Clearing the flag *before* draining means a frame pushed while a
    drain runs either is drained by it or wakes the reactor again; none is left waiting.
    """

    def __init__(self, wake: Callable[[], object] | None = None) -> None:
        self._pending: deque[tuple[FrameSink, bytes, bytes]] = deque()
        self._wake = wake
        self._wake_pending = False
        self.wakes = 0  # wake-ups requested so far (how well ticks are batched)

    def push(self, sink: FrameSink, bot: bytes, borrower: bytes) -> None:
        self._pending.append((sink, bot, borrower))
        if self._wake is not None and not self._wake_pending:
            self._wake_pending = True
            self.wakes += 1
            self._wake()

    def drain(self) -> int:
        """Reactor side: deliver everything queued so far, oldest first; returns the count."""
        self._wake_pending = False
        n = 0
        pending = self._pending
        while pending:
            sink, bot, borrower = pending.popleft()
            sink(bot, borrower)
            n += 1
        return n

    def __len__(self) -> int:
        return len(self._pending)


class BotFrameTally:
    """Bot frames handed to the bridge by every port of one endpoint, and how many of them late.

    Written only by the media clock thread (one writer), read by the reactor (the worker's heartbeat).
    """

    def __init__(self) -> None:
        self.frames = 0
        self.late = 0


class FrameDeadlines:
    """When one port's bot frames go out against their 20 ms deadlines (media clock thread).

    Frame n is due n x 20 ms after the port's first tick; the anchor is the best (smallest) lag seen,
    so a late first tick does not make every later frame look early. A frame handed over more than
    one frame time past its due time missed its deadline: the bridge sent the previous tick's audio
    late or the clock thread (or the GIL it needs for our callback) was held up. When the clock has
    fallen so far behind that pjmedia skips the missed ticks, those frames never went out: they are
    counted as frames and as late, and the schedule moves on past them.
    """

    def __init__(self, tally: BotFrameTally, clock: Callable[[], float] = time.monotonic) -> None:
        self._tally = tally
        self._clock = clock
        self._n = 0
        self._best_lag: float | None = None

    def handed(self) -> None:
        lag = self._clock() - self._n * FRAME_S
        self._n += 1
        best = self._best_lag
        if best is None or lag < best:
            self._best_lag = best = lag
        behind = lag - best
        tally = self._tally
        tally.frames += 1
        if behind > FRAME_S:
            tally.late += 1
            if behind > CLOCK_MAX_JUMP_S:
                skipped = int(behind / FRAME_S)
                self._n += skipped
                tally.frames += skipped
                tally.late += skipped


class CallMediaPort(pj.AudioMediaPort):
    """One call's port in the conference bridge: bot audio out, borrower audio in, paired per tick.

    `sending` is flipped by the reactor when the call is answered: before that (early media) the
    port sends silence and leaves the playback queue alone. From then on every bot frame (prompt
    audio or the silence between prompts) is checked against its deadline into `tally`.
    """

    def __init__(
        self, name: str, rate: int, playback: PlaybackQueue, relay: FrameRelay, sink: FrameSink,
        tally: BotFrameTally | None = None,
    ) -> None:
        super().__init__()
        self._deadlines = FrameDeadlines(tally if tally is not None else BotFrameTally())
        self.frame_bytes = playback.frame_bytes
        self.sending = False
        self._silence = b"\x00" * self.frame_bytes
        self._playback = playback
        self._relay = relay
        self._sink = sink
        self._pending_bot: bytes | None = None
        self._out = FrameVector(self.frame_bytes)
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.init(pj.PJMEDIA_FORMAT_PCM, rate, 1, 20000, 16)
        self.createPort(name, fmt)

    def detach(self) -> None:
        """Stop handing frames on (the call is over); pjsua2 may still tick us until removal."""
        self._sink = _discard
        self.sending = False

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        keep_thread_state()
        if self.sending:
            self._deadlines.handed()
            data = self._playback.pull()
        else:
            data = self._silence
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self._out.filled(data)
        frame.size = len(data)
        if self._pending_bot is not None:  # last tick delivered no borrower frame
            self._relay.push(self._sink, self._pending_bot, self._silence)
        self._pending_bot = data

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        keep_thread_state()
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        borrower = vector_bytes(frame.buf)
        if len(borrower) != self.frame_bytes:
            borrower = (borrower + self._silence)[: self.frame_bytes]
        bot = self._pending_bot if self._pending_bot is not None else self._silence
        self._pending_bot = None
        self._relay.push(self._sink, bot, borrower)


def _discard(bot: bytes, borrower: bytes) -> None:
    return None


def destroy_now(obj: Any) -> None:
    """Run a pjsua2 object's C++ destructor now, whoever still holds the Python proxy.

    A Call, port or Account destroyed after `libDestroy` trips a pjsua assertion and aborts the
    process; a traceback or a forgotten local can keep the proxy alive that long. Deleting the C++
    side here (SWIG then disowns the proxy) makes teardown order ours, not the garbage collector's.
    """
    if obj is None:
        return
    try:
        if obj.thisown:
            type(obj).__swig_destroy__(obj)
    except (pj.Error, AttributeError, TypeError) as exc:
        log.warning("could not destroy %s: %s", type(obj).__name__, exc)


"""A real SIP phone (baresip) answers: audio crosses both ways and the phone's own hang-up is reported."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reactor_wait import run_until
from sip_peers import baresip
from sip_signals import best_correlation, matched_fraction, noise

from pcm.wav import read_wav
from telephony.events import CallEnded

pytestmark = pytest.mark.integration


def test_baresip_answers_hears_us_and_hangs_up(endpoint: Any, tmp_path: Path) -> None:
    """baresip auto-answers, hears the bot's audio, sends its own, and its BYE ends the call as remote_bye."""
    phone_says = noise(3.0, seed=44)
    source = tmp_path / "phone.wav"
    with wave.open(str(source), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(8000)
        wf.writeframes(phone_says.astype("<i2").tobytes())
    bot_says = noise(2.0, seed=45)
    record = tmp_path / "call.wav"
    with baresip(source) as phone:
        call = run_until(endpoint.dial(phone.uri, record_path=record), 10)
        call.playback.enqueue(bot_says.tobytes())
        ended: CallEnded = run_until(call.ended, 15)
        heard = phone.heard()
        assert heard is not None, phone.log()[-2000:]
        phone_heard = read_wav(heard).channel("mono")
    assert ended.reason == "remote_bye" and ended.hangup_by == "remote"
    assert 2.0 < ended.duration_s < 5.0
    wav = read_wav(record)
    assert best_correlation(wav.channel("left"), bot_says[:8000])[0] > 0.95
    # A real phone's jitter can slip a frame now and then, so match quarter-second pieces (8 per 2 s);
    # on a loaded CI machine one piece in eight may straddle a slip. Random noise never matches a piece.
    # The phone talks from its 200 OK; we record from the answer, so its first moments may be missing.
    assert matched_fraction(wav.channel("right"), phone_says[2000:18000]) >= 0.75
    assert matched_fraction(np.asarray(phone_heard), bot_says) >= 0.75
    assert matched_fraction(wav.channel("right"), bot_says) < 0.1  # the bot is not on the phone's channel

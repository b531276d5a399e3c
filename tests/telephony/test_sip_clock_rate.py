"""A 16 kHz media clock: frames, playback and recording at 16 kHz over an 8 kHz G.711 call."""

from __future__ import annotations

from pathlib import Path

import pytest
from reactor_wait import run_until
from sip_config import make_config
from sip_peers import sipp
from sip_signals import matched_fraction, noise
from twisted.internet import reactor

from pcm.resample import resample
from pcm.wav import read_wav
from telephony.endpoint import SipEndpoint

pytestmark = pytest.mark.integration


def test_16k_clock_rate_end_to_end(tmp_path: Path) -> None:
    """With clock_rate 16000 the consumer gets 640-byte frames and the echo comes back on the right channel."""
    ep = SipEndpoint(make_config(tmp_path, clock_rate=16000), reactor)
    run_until(ep.start())
    frames: list[bytes] = []
    speech = resample(noise(2.0, seed=9), 8000, 16000)  # inside the 4 kHz that G.711 carries
    try:
        with sipp("uas_echo.xml", rtp_echo=True) as peer:
            call = run_until(ep.dial(peer.uri, record_path=tmp_path / "wb.wav", max_seconds=3.0))
            assert call.clock_rate == 16000
            call.set_frame_consumer(lambda f, t: frames.append(f))
            call.playback.enqueue(speech.tobytes())
            run_until(call.ended, 8)
    finally:
        run_until(ep.stop())
    assert frames and all(len(f) == 640 for f in frames)
    wav = read_wav(tmp_path / "wb.wav")
    assert wav.rate == 16000
    assert matched_fraction(wav.channel("left"), speech[:16000], window=4000) > 0.9
    assert matched_fraction(wav.channel("right"), speech[:16000], window=4000) >= 0.75  # received: may slip once

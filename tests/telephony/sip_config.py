"""Server config for telephony tests: SIP on an OS-chosen port, RTP from a random base."""

from __future__ import annotations

import random
from pathlib import Path

from config.server_config import CallSettings, MediaSettings, ServerConfig, SipSettings, TrunkSettings


def make_config(
    tmp: Path,
    *,
    ring_timeout_s: float = 4.0,
    max_call_seconds: float = 20.0,
    trunks: tuple[TrunkSettings, ...] = (),
    clock_rate: int = 8000,
    rtp_timeout_seconds: float = 20.0,
) -> ServerConfig:
    """Config for tests: SIP on an OS-chosen port; RTP from a random base so parallel runs rarely clash
    (pjsua2 also steps past ports in use)."""
    return ServerConfig(
        source=tmp / "server.toml",
        sip=SipSettings(bind_address="127.0.0.1", port=0),
        media=MediaSettings(
            clock_rate=clock_rate, rtp_port_start=random.randrange(20000, 60000, 2), rtp_port_range=2000,
            rtp_timeout_seconds=rtp_timeout_seconds,
        ),
        calls=CallSettings(ring_timeout_s=ring_timeout_s, max_call_seconds=max_call_seconds, recording_dir=tmp),
        trunks=trunks,
    )

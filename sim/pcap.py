"""RTP in pcap files for sipp's `play_pcap_audio`: G.711 speech and RFC 2833 key presses.

sipp replays the packets of a pcap (Ethernet/IPv4/UDP/RTP) at their capture times towards the
call's remote media address; only the RTP part and the timing matter, so the addresses are loopback.
Used by the sipp borrowers of `bench/serve_load.py --peer sipp` and by the telephony tests.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def _pcap_packet(seq: int, ts_us: int, rtp: bytes) -> bytes:
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
        bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
    ) + udp
    frame = b"\x00" * 12 + b"\x08\x00" + ip
    return struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)) + frame


def rtp_pcap(samples: npt.NDArray[np.int16], payload_type: int = 8, rate: int = 8000) -> bytes:
    """PCMA (pt 8) or PCMU (pt 0) RTP packets, 20 ms each, as pcap bytes; a partial last frame is dropped."""
    if payload_type not in (0, 8):
        raise ValueError(f"payload type {payload_type} is not G.711 (0 = PCMU, 8 = PCMA)")
    pcm = np.asarray(samples, "<i2").tobytes()
    encode = audioop.lin2alaw if payload_type == 8 else audioop.lin2ulaw
    per = rate // 50
    out = [_PCAP_HEADER]
    for i in range(0, len(pcm) // 2 // per):
        payload = encode(pcm[i * per * 2 : (i + 1) * per * 2], 2)
        rtp = struct.pack("!BBHII", 0x80, payload_type | (0x80 if i == 0 else 0), i & 0xFFFF, i * per, 0x1234) + payload
        out.append(_pcap_packet(i, i * 20000, rtp))
    return b"".join(out)


def write_rtp_pcap(path: Path, samples: npt.NDArray[np.int16], payload_type: int = 8, rate: int = 8000) -> None:
    """`rtp_pcap` written to `path`."""
    path.write_bytes(rtp_pcap(samples, payload_type, rate))


def write_dtmf_pcap(path: Path, digits: str, payload_type: int = 120) -> None:
    """RFC 2833 telephone-events, 100 ms per key and 100 ms apart, as sipp's DTMF pcaps are built."""
    out = [_PCAP_HEADER]
    seq, t_us = 0, 0
    for n, digit in enumerate(digits):
        event = _EVENT_CODES[digit]
        start_ts = n * 1600
        for k in range(8):
            end = k >= 5
            duration = min(k + 1, 5) * 160
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
            marker = 0x80 if k == 0 else 0
            rtp = struct.pack("!BBHII", 0x80, payload_type | marker, seq, start_ts, 0x4321) + payload
            out.append(_pcap_packet(seq, t_us, rtp))
            seq += 1
            t_us += 20000 if k < 5 else 0
        t_us += 100000
    path.write_bytes(b"".join(out))

"""Test signals, an RTP pcap writer for sipp's play_pcap_audio, and a correlation check.

Channels of a recording are checked by normalized cross-correlation against the signal that was
sent, so the test fails if the audio is missing, swapped, or garbled, not merely if a file is small.
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

Int16 = npt.NDArray[np.int16]


def noise(seconds: float, seed: int, rate: int = 8000, level: float = 6000.0) -> Int16:
    """Band-limited noise: distinct per seed, so two sides of a call cannot be mistaken for each other."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * rate))
    kernel = np.ones(3) / 3.0  # mild low-pass keeps it well inside G.711's band
    x = np.convolve(x, kernel, mode="same")
    x = x / np.max(np.abs(x)) * level
    return x.astype(np.int16)


def write_rtp_pcap(path: Path, samples: Int16, payload_type: int = 8, rate: int = 8000) -> None:
    """PCMA (pt 8) or PCMU (pt 0) RTP packets, 20 ms each, as an Ethernet/IPv4/UDP pcap."""
    pcm = np.asarray(samples, "<i2").tobytes()
    encode = audioop.lin2alaw if payload_type == 8 else audioop.lin2ulaw
    per = rate // 50
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(0, len(pcm) // 2 // per):
        payload = encode(pcm[i * per * 2 : (i + 1) * per * 2], 2)
        rtp = struct.pack("!BBHII", 0x80, payload_type | (0x80 if i == 0 else 0), i & 0xFFFF, i * per, 0x1234) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        ts = i * 20000
        out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def _pcap_packet(seq: int, ts_us: int, rtp: bytes) -> bytes:
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
        bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
    ) + udp
    frame = b"\x00" * 12 + b"\x08\x00" + ip
    return struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)) + frame


_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def write_dtmf_pcap(path: Path, digits: str, payload_type: int = 120) -> None:
    """RFC 2833 telephone-events, 100 ms per key and 100 ms apart, as sipp's DTMF pcaps are built."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
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


def best_correlation(recorded: Int16, reference: Int16, max_lag: int = 8000) -> tuple[float, int]:
    """Highest normalized correlation of `reference` inside `recorded` over lags 0..max_lag samples (FFT)."""
    rec = np.asarray(recorded, np.float64)
    ref = np.asarray(reference, np.float64)
    n = len(ref)
    if n < 400 or len(rec) < n:
        return 0.0, 0
    ref = ref - ref.mean()
    ref_norm = float(np.linalg.norm(ref))
    lags = min(max_lag, len(rec) - n) + 1
    size = 1 << int(np.ceil(np.log2(len(rec) + n)))
    dot = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)[:lags]
    cs = np.concatenate(([0.0], np.cumsum(rec)))
    cs2 = np.concatenate(([0.0], np.cumsum(rec * rec)))
    s1 = cs[n : n + lags] - cs[:lags]
    s2 = cs2[n : n + lags] - cs2[:lags]
    seg_norm = np.sqrt(np.maximum(s2 - s1 * s1 / n, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(seg_norm > 1e-6, dot / (seg_norm * ref_norm if ref_norm else 1.0), 0.0)
    best = int(np.argmax(corr))
    return float(corr[best]), best


def matched_fraction(recorded: Int16, reference: Int16, window: int = 2000, threshold: float = 0.8) -> float:
    """Share of `window`-sample pieces of `reference` found (correlation > threshold) anywhere in `recorded`."""
    pieces = [reference[i : i + window] for i in range(0, len(reference) - window + 1, window)]
    if not pieces:
        return 0.0
    found = sum(1 for p in pieces if best_correlation(recorded, p, max_lag=len(recorded))[0] > threshold)
    return found / len(pieces)

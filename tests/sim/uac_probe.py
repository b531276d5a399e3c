"""A scripted caller for the sim phone tests: a real pjsua2 UAC in its own process.

    python tests/sim/uac_probe.py --target sip:persona@127.0.0.1:PORT --out result.json \
        [--prompt a.wav ...] [--hold-s 8] [--max-s 30]

It plays the bot's prompts turn by turn (the next one once the borrower has spoken and gone quiet for
0.6 s), records every received frame, and notes each SIP INFO with its arrival time. A separate
process because pjsua2 allows one Endpoint per process and the test process must stay free of it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pjsua2 as pj

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pcm.wav import read_wav, write_wav  # noqa: E402

RATE = 8000
FRAME_BYTES = RATE // 50 * 2
LOUD = 32768 * 10 ** (-45 / 20)


class Port(pj.AudioMediaPort):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.rx: deque[bytes] = deque()
        self.tx: deque[bytes] = deque()
        self.tx_started = False

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        with self.lock:
            data = self.tx.popleft() if self.tx else b"\x00" * FRAME_BYTES
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(data)
        frame.size = FRAME_BYTES

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            data = bytes(frame.buf)
            with self.lock:
                self.rx.append(data)

    def play(self, pcm: bytes) -> None:
        frames = [pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\x00") for i in range(0, len(pcm), FRAME_BYTES)]
        with self.lock:
            self.tx.extend(frames)

    def playing(self) -> bool:
        with self.lock:
            return bool(self.tx)


class ProbeCall(pj.Call):
    def __init__(self, account: pj.Account) -> None:
        super().__init__(account)
        self.media: pj.AudioMedia | None = None
        self.state = 0
        self.code = 0
        self.infos: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.answered_at: float | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        self.state = info.state
        self.code = int(info.lastStatusCode)
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.answered_at is None:
            self.answered_at = time.monotonic()

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self.media is None:
            try:
                self.media = self.getAudioMedia(-1)
            except pj.Error:
                self.media = None

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        e = prm.e
        if e.type != pj.PJSIP_EVENT_TSX_STATE or e.body.tsxState.type != pj.PJSIP_EVENT_RX_MSG:
            return
        msg = e.body.tsxState.src.rdata.wholeMsg
        if not msg.startswith("INFO "):
            return
        head, _, body = msg.partition("\r\n\r\n")
        ctype = ""
        for line in head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-type", "c"):
                ctype = value.strip()
        self.infos.append({"t": time.monotonic(), "content_type": ctype, "body": body})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--prompt", type=Path, action="append", default=[])
    ap.add_argument("--hold-s", type=float, default=0.0, help="stay this long after the last prompt/line")
    ap.add_argument("--max-s", type=float, default=30.0)
    args = ap.parse_args()
    prompts = [read_wav(p).channel("mono").astype("<i2").tobytes() for p in args.prompt]

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = RATE
    cfg.medConfig.sndClockRate = RATE
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 0)
    ep.codecSetPriority("PCMA/8000/1", 255)
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:probe@127.0.0.1"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)

    call = ProbeCall(acc)
    call.makeCall(args.target, pj.CallOpParam(True))
    port = Port()
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = 20_000
    port.createPort("probe", fmt)

    rx: list[bytes] = []
    prompt_log: list[dict[str, float]] = []
    next_prompt = 0
    connected = False
    last_loud = 0.0
    heard_since_prompt = False
    prompt_end_frames = 0
    done_at: float | None = None
    deadline = time.monotonic() + args.max_s
    while time.monotonic() < deadline:
        ep.libHandleEvents(5)
        if call.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            break
        if call.media is not None and not connected:
            call.media.startTransmit(port)
            port.startTransmit(call.media)
            connected = True
            start_at = time.monotonic() + 0.3
        with port.lock:
            fresh = list(port.rx)
            port.rx.clear()
        for frame in fresh:
            rx.append(frame)
            level = float(np.sqrt(np.mean(np.frombuffer(frame, "<i2").astype(np.float64) ** 2)))
            if level > LOUD:
                last_loud = len(rx) * 0.02
                heard_since_prompt = True
        for info in call.infos:
            if "media_t" not in info:  # media time: seconds of received audio when the INFO arrived
                info["media_t"] = round(len(rx) * 0.02 - (time.monotonic() - info["t"]), 3)
        if not connected:
            continue
        now_rx = len(rx) * 0.02  # media time since the port was connected
        busy = port.playing()
        if prompt_log and "end" not in prompt_log[-1] and not busy:
            prompt_log[-1]["end"] = prompt_end_frames * 0.02
        if busy:
            continue
        can_start = (
            next_prompt == 0 and time.monotonic() >= start_at
        ) or (
            next_prompt > 0 and heard_since_prompt and now_rx - last_loud >= 0.6
        )
        if next_prompt < len(prompts) and can_start:
            pcm = prompts[next_prompt]
            # media time of the first frame of this prompt (frames go out on the same clock as rx)
            prompt_log.append({"index": next_prompt, "start": now_rx})
            prompt_end_frames = len(rx) + len(pcm) // FRAME_BYTES
            port.play(pcm)
            next_prompt += 1
            heard_since_prompt = False
        elif next_prompt >= len(prompts) and done_at is None and (not prompts or heard_since_prompt or args.hold_s):
            done_at = time.monotonic() + max(args.hold_s, 0.8)
        if done_at is not None and time.monotonic() >= done_at:
            break

    answered_at = call.answered_at
    if call.state != pj.PJSIP_INV_STATE_DISCONNECTED:
        with contextlib.suppress(pj.Error):
            call.hangup(pj.CallOpParam())
        for _ in range(100):
            ep.libHandleEvents(10)
            if call.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                break
    samples = np.frombuffer(b"".join(rx), "<i2").astype(np.int16)
    rx_wav = args.out.with_suffix(".rx.wav")
    write_wav(rx_wav, samples, RATE)
    result = {
        "code": call.code,
        "answered": answered_at is not None,
        "infos": [{"t": i.get("media_t"), "content_type": i["content_type"], "body": i["body"]} for i in call.infos],
        "prompts": prompt_log,
        "rx_wav": str(rx_wav),
        "rx_seconds": len(rx) * 0.02,
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    del call, port
    acc.shutdown()
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())

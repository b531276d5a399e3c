#!/usr/bin/env python3
"""Prompt rendering speed and memory: cold (TTS for the variables) vs warm (cached), cache size.

    .venv/bin/python bench/prompts.py [--borrowers 30] [--rate 8000] [--engine both]

Target: warm render < 5 ms (it sits inside the 350 ms voice-to-voice budget). Figures are medians
(and p95) over one run; each cold render uses a different borrower so nothing is cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.server_config import load_server_config  # noqa: E402
from dialogue.borrower import Borrower  # noqa: E402
from dialogue.render import prompt_for  # noqa: E402
from dialogue.scripts import load_script_library  # noqa: E402
from prompts.renderer import build_renderer  # noqa: E402
from prompts.warmup import prepare_borrower, prerender_script_sets  # noqa: E402

SCRIPT_SET = "first_overdue_courteous"
NODE = "notice_first_overdue/tell"  # product + overdue days + amount: three TTS pieces
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def borrower(i: int) -> Borrower:
    return Borrower.from_dict({
        "id": f"B{i}", "name": SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)], "gender": "male",
        "phone": f"138{i:08d}", "amount_due": 1000 + 37.5 * i, "overdue_days": 3 + i,
        "due_date": (dt.date(2026, 11, 1) + dt.timedelta(days=i % 28)).isoformat(),
        "product": ["信用贷", "消费分期", "现金贷"][i % 3], "creditor": "示例消费金融", "risk_score": 600,
    })


def ms(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=20) if len(samples) >= 2 else samples * 19
    return f"median {statistics.median(samples):7.2f} ms   p95 {q[18]:7.2f} ms   (n={len(samples)})"


def run_engine(engine: str, args: argparse.Namespace) -> None:
    rate = args.rate
    today = dt.date(2026, 11, 28)
    library = load_script_library()
    settings = dataclasses.replace(load_server_config().prompts, tts_engine=engine)
    renderer = build_renderer(settings, library.fragments)

    t0 = time.perf_counter()
    fresh = prerender_script_sets(renderer, library, library.script_sets, rate)
    prerender_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    dates = prerender_script_sets(renderer, library, library.script_sets, rate, today=today, date_days=45)
    dates_ms = (time.perf_counter() - t0) * 1000

    cold: list[float] = []
    warm: list[float] = []
    prepare: list[float] = []
    tts_runs = 0
    for i in range(args.borrowers):
        prompt = prompt_for(library, SCRIPT_SET, NODE, borrower(i), today)
        out = renderer.render(prompt, rate)  # fragments warm, variables cold
        cold.append(out.render_ms)
        tts_runs += out.variables_synthesized
        for _ in range(20):
            again = renderer.render(prompt, rate)
            assert again.variables_synthesized == 0
            warm.append(again.render_ms)
        t0 = time.perf_counter()
        prepare_borrower(renderer, library, SCRIPT_SET, borrower(10_000 + i), today, rate)
        prepare.append((time.perf_counter() - t0) * 1000)

    stats = renderer.cache.stats()
    print(f"engine {engine} ({renderer.tts.voice_id})")
    print(f"  campaign prerender  {fresh} fragments for {len(library.script_sets)} script sets: {prerender_ms:8.1f} ms;"
          f" +{dates} promise/callback dates: {dates_ms:8.1f} ms")
    print(f"  cold render (TTS)   {ms(cold)}   ({tts_runs / len(cold):.1f} TTS runs each)")
    print(f"  warm render (cache) {ms(warm)}   target < 5 ms: {'met' if statistics.median(warm) < 5 else 'MISSED'}")
    print(f"  cold / warm ratio   {statistics.median(cold) / statistics.median(warm):7.1f}x")
    print(f"  prepare_borrower    {ms(prepare)}   (all pre-call variables of one borrower)")
    print(f"  variable cache      {stats.entries} entries, {stats.bytes / 1e6:.2f} MB of "
          f"{stats.max_bytes / 1e6:.0f} MB, {stats.bytes / max(1, stats.entries) / 1e3:.1f} kB per entry, hit rate "
          f"{stats.hits / max(1, stats.hits + stats.misses):.0%}")
    print(f"  pinned fragments    {renderer.pinned_bytes() / 1e6:.2f} MB at {rate} Hz (int16)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--borrowers", type=int, default=30)
    parser.add_argument("--rate", type=int, choices=(8000, 16000), default=8000)
    parser.add_argument("--engine", choices=("espeak-ng", "libespeak-ng", "both"), default="both")
    args = parser.parse_args()
    library = load_script_library()
    sample = prompt_for(library, SCRIPT_SET, NODE, borrower(0), dt.date(2026, 11, 28))
    print(f"prompt render benchmark: set {SCRIPT_SET}, node {NODE}, {args.rate} Hz, {len(sample.parts)} parts, "
          f"{args.borrowers} borrowers (one cold render each, then 20 warm)")
    for engine in ("espeak-ng", "libespeak-ng") if args.engine == "both" else (args.engine,):
        run_engine(engine, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

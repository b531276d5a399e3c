"""Intent recognition through real ASR: espeak-ng speech at 8 kHz, G.711, whisper, the classifier, the slots.

Run from the repository root: ``.venv/bin/python bench/asr_in_the_loop.py [--limit N] [--sets natural natural2]``.

Each reply of the natural intent sets (dialogue/data/intents/natural*.jsonl: held-out, never trained
on) and each slot case of tests/dialogue/test_slots.py is spoken by espeak-ng (`cmn-latn-pinyin`,
the voice that reads Han characters as Mandarin), resampled to 8 kHz, sent through a G.711 round trip
(mu-law and A-law alternately, as trunks do), recognized by the whisper recognizer's own decode
(packaged Whisper base, int8, the production settings) and classified. Per set it prints the
character error rate against the text (spaces and punctuation ignored), how many replies came back as no
speech (whisper's own no-speech rule, subtitle stock phrases and prompt echoes dropped), the intent accuracy
on the recognized text read literally and with the classifier's sound-alike tolerance
(dialogue/soundalike.py) next to the accuracy on the clean text, the real-time factor and the milliseconds
per utterance (p50/p95), then the worst confusions: intents lost to ASR and the commonest character
substitutions. `--limit N` takes N replies per set (a fixed-seed sample spread over the file) so a
run stays within a few minutes; espeak speech is a harsh test (robotic, tones often wrong), so real
voices are expected to do better.
"""

from __future__ import annotations

import argparse
import warnings

warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)  # still in 3.11, our Python
import audioop  # noqa: E402
import dataclasses  # noqa: E402
import datetime as dt  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TypeVar  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# bench/asr.py would shadow the asr package: the script's own folder leaves the path, the root leads it.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from asr.whisper_recognizer import shared_whisper_engine  # noqa: E402
from config.asr_config import AsrConfig  # noqa: E402
from dialogue.intents import IntentClassifier  # noqa: E402
from dialogue.intents.data import DATA_DIR, read_jsonl  # noqa: E402
from dialogue.slots import extract_slots  # noqa: E402
from tests.asr.synth import speak  # noqa: E402

RATE = 8000
VOICE = "cmn-latn-pinyin"


def chars(text: str) -> str:
    """What CER compares: letters, digits and Han characters; no spaces or punctuation."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def alignment(ref: str, hyp: str) -> tuple[int, list[tuple[str, str]]]:
    """Levenshtein distance and the (ref, hyp) pairs of its substitutions/deletions/insertions."""
    rows = [list(range(len(hyp) + 1))]
    for i, r in enumerate(ref, 1):
        row = [i]
        for j, h in enumerate(hyp, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (r != h)))
        rows.append(row)
    pairs: list[tuple[str, str]] = []
    i, j = len(ref), len(hyp)
    while i or j:
        if i and j and rows[i][j] == rows[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            if ref[i - 1] != hyp[j - 1]:
                pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and rows[i][j] == rows[i - 1][j] + 1:
            pairs.append((ref[i - 1], "∅"))
            i -= 1
        else:
            pairs.append(("∅", hyp[j - 1]))
            j -= 1
    return rows[-1][-1], pairs


def telephone(text: str, index: int) -> tuple[bytes, float]:
    """espeak speech at 8 kHz after a G.711 round trip (mu-law for even items, A-law for odd)."""
    pcm = speak(text, RATE, voice=VOICE).astype("<i2").tobytes()
    law = (audioop.lin2alaw, audioop.alaw2lin) if index % 2 else (audioop.lin2ulaw, audioop.ulaw2lin)
    pcm = law[1](law[0](pcm, 2), 2)
    return pcm, len(pcm) / 2 / RATE


@dataclass
class Tally:
    name: str
    n: int = 0
    errors: int = 0
    ref_chars: int = 0
    asr_right: int = 0
    literal_right: int = 0  # on recognized text read literally (no sound-alike tolerance)
    silent: int = 0  # recognized as no speech ("" after the stock-phrase and prompt-echo filters)
    clean_right: int = 0
    audio_s: float = 0.0
    decode_s: float = 0.0
    per_utt_ms: list[float] | None = None

    def add_timing(self, audio_s: float, decode_s: float) -> None:
        self.audio_s += audio_s
        self.decode_s += decode_s
        if self.per_utt_ms is None:
            self.per_utt_ms = []
        self.per_utt_ms.append(decode_s * 1000)

    def pct(self, k: int) -> str:
        return f"{100 * k / self.n:5.1f}%" if self.n else "  -  "

    def row(self) -> str:
        ms = sorted(self.per_utt_ms or [0.0])
        p50, p95 = ms[len(ms) // 2], ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        cer = 100 * self.errors / self.ref_chars if self.ref_chars else 0.0
        rtf = self.decode_s / self.audio_s if self.audio_s else 0.0
        literal = self.pct(self.literal_right) if self.name != "slots" else "-"
        return (f"{self.name:<14} {self.n:>4} {cer:6.1f}% {self.silent:>6} {literal:>7} {self.pct(self.asr_right):>7}"
                f" {self.pct(self.clean_right):>7} {rtf:6.2f} {p50:7.0f} {p95:7.0f}")


T = TypeVar("T")


def sample(items: list[T], limit: int | None, seed: int) -> list[T]:
    if limit is None or limit >= len(items):
        return items
    picked = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in picked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=25, help="replies per set (default 25; 0 = all)")
    parser.add_argument("--sets", nargs="*", default=None, help="natural set names (default: every natural*.jsonl)")
    parser.add_argument("--no-slots", action="store_true", help="skip the slot cases")
    parser.add_argument("--worst", type=int, default=12, help="how many confusions to list")
    parser.add_argument("--prompt-file", default="", help="initial prompt file (default: [asr.whisper]'s)")
    args = parser.parse_args()
    limit = args.limit or None

    started = time.perf_counter()
    config = AsrConfig(recognizer="whisper", worker_threads=1)
    whisper = dataclasses.replace(config.whisper, initial_prompt_file=args.prompt_file)
    config = dataclasses.replace(config, whisper=whisper)
    engine = shared_whisper_engine(config)
    print(f"whisper model {engine.path} loaded in {time.perf_counter() - started:.1f} s "
          f"(int8, beam {engine.options.beam_size}, prompt {engine.options.initial_prompt!r})")
    classifier = IntentClassifier.load()
    literal = IntentClassifier.load(tolerance=False)
    names = args.sets or sorted(p.stem for p in DATA_DIR.glob("natural*.jsonl"))
    tallies: list[Tally] = []
    lost: Counter[tuple[str, str]] = Counter()
    subs: Counter[tuple[str, str]] = Counter()
    worst: list[tuple[float, str, str]] = []

    def recognize(text: str, index: int, tally: Tally) -> str:
        pcm, audio_s = telephone(text, index)
        t0 = time.perf_counter()
        heard = engine.decode(pcm, RATE).text
        tally.add_timing(audio_s, time.perf_counter() - t0)
        ref, hyp = chars(text), chars(heard)
        distance, pairs = alignment(ref, hyp)
        tally.errors += distance
        tally.ref_chars += len(ref)
        tally.silent += not hyp
        subs.update(pairs)
        worst.append((distance / max(1, len(ref)), text, heard))
        print(f"    {tally.name} {index}: {text} | {heard} ({(time.perf_counter() - t0) * 1000:.0f} ms)",
              file=sys.stderr, flush=True)
        return heard

    for name in names:
        examples = sample(list(read_jsonl(DATA_DIR / f"{name}.jsonl")), limit, seed=len(name))
        tally = Tally(name)
        for i, ex in enumerate(examples):
            text, gold = ex.text, ex.intent
            heard = recognize(text, i, tally)
            tally.n += 1
            got = classifier.classify(heard).intent
            clean = classifier.classify(text).intent
            tally.asr_right += got == gold
            tally.literal_right += literal.classify(heard).intent == gold
            tally.clean_right += clean == gold
            if clean == gold and got != gold:
                lost[(gold, got)] += 1
        tallies.append(tally)
        print(f"  {name}: {tally.n} replies done", file=sys.stderr, flush=True)

    slot_tally = None
    if not args.no_slots:
        from tests.dialogue.test_slots import CASES

        slot_tally = Tally("slots")
        cases = sample(list(CASES), limit, seed=7)
        for i, case in enumerate(cases):
            text, today, want_date, want_amount = case
            want = (dt.date.fromisoformat(want_date) if want_date else None,
                    float(want_amount) if want_amount is not None else None)
            heard = recognize(text, i, slot_tally)
            slot_tally.n += 1
            heard_slots = extract_slots(heard, today)
            clean_slots = extract_slots(text, today)
            slot_tally.asr_right += (heard_slots.date, heard_slots.amount) == want
            slot_tally.clean_right += (clean_slots.date, clean_slots.amount) == want

    print()
    print(f"{'set':<14} {'n':>4} {'CER':>7} {'silent':>6} {'literal':>7} {'on ASR':>7} {'clean':>7} {'RTF':>6}"
          f" {'p50 ms':>7} {'p95 ms':>7}")
    print("  (silent: recognized as no speech; intent accuracy on recognized text read literally, on recognized"
          " text with the sound-alike tolerance, on clean text; for slots: exact date + amount match)")
    total = Tally("all intents")
    for t in tallies:
        print(t.row())
        total.n += t.n
        total.errors += t.errors
        total.ref_chars += t.ref_chars
        total.asr_right += t.asr_right
        total.silent += t.silent
        total.literal_right += t.literal_right
        total.clean_right += t.clean_right
        total.audio_s += t.audio_s
        total.decode_s += t.decode_s
        total.per_utt_ms = (total.per_utt_ms or []) + (t.per_utt_ms or [])
    print(total.row())
    if slot_tally is not None:
        print(slot_tally.row())
    print("\nintents lost to ASR (right on clean text, wrong on recognized), gold -> got:")
    for (gold, got), k in lost.most_common(args.worst):
        print(f"  {k:3}  {gold} -> {got}")
    print("\ncommonest character confusions (said -> heard, ∅ = dropped/inserted):")
    print("  " + ", ".join(f"{r}->{h} {k}" for (r, h), k in subs.most_common(args.worst)))
    print("\nworst utterances (CER, said | heard):")
    for cer, text, heard in sorted(worst, reverse=True)[: args.worst]:
        print(f"  {cer:5.2f}  {text} | {heard}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

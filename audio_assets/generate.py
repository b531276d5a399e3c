#!/usr/bin/env python3
"""Make placeholder recordings (espeak-ng) for every fragment in the dialogue's fragment catalogue.

    .venv/bin/python audio_assets/generate.py            # incremental: only changed or missing texts
    .venv/bin/python audio_assets/generate.py --force    # remake every placeholder

Studio recordings listed in the manifest are never touched; see audio_assets/RECORDING_SPEC.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.errors import ConfigError  # noqa: E402
from config.prompts_config import PromptSettings  # noqa: E402
from dialogue.scripts import DEFAULT_SCRIPTS_DIR, load_script_library  # noqa: E402
from prompts.placeholders import generate_placeholders  # noqa: E402
from prompts.tts import EspeakTts, TtsError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    defaults = PromptSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scripts", type=Path, default=DEFAULT_SCRIPTS_DIR, help="script library folder")
    parser.add_argument("--manifest", type=Path, default=defaults.manifest, help="manifest to update")
    parser.add_argument("--voice", default=defaults.tts_voice, help="espeak-ng voice (default %(default)s)")
    parser.add_argument("--speed", type=int, default=defaults.tts_speed_wpm, help="words per minute")
    parser.add_argument("--rate", type=int, choices=(8000, 16000), default=16000,
                        help="sample rate of new placeholders (default %(default)s; 8000 halves the size)")
    parser.add_argument("--force", action="store_true", help="remake every placeholder, not only changed ones")
    args = parser.parse_args(argv)
    try:
        library = load_script_library(args.scripts)
    except ConfigError as exc:
        print(f"cannot read the fragment catalogue: {exc}", file=sys.stderr)
        return 2
    tts = EspeakTts(args.voice, speed_wpm=args.speed)
    try:
        report = generate_placeholders(library.fragments, args.manifest, tts, force=args.force, rate=args.rate)
    except TtsError as exc:
        print(f"espeak-ng failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.manifest}: {len(report.made)} made, {len(report.kept)} kept, {len(report.removed)} removed; "
        f"{len(report.made) + len(report.kept)} recordings, {report.total_bytes / 1e6:.2f} MB"
    )
    for frag_id in report.stale_studio:
        print(f"  studio recording {frag_id!r}: the script text changed - re-record it", file=sys.stderr)
    for frag_id in report.unused_studio:
        print(f"  studio recording {frag_id!r}: no script uses it any more - remove it", file=sys.stderr)
    for frag_id in report.english_reading:
        print(f"  note: espeak-ng read part of {frag_id!r} with English rules (Latin letters?)", file=sys.stderr)
    return 1 if report.stale_studio or report.unused_studio else 0


if __name__ == "__main__":
    sys.exit(main())

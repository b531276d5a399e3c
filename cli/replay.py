"""`server.py replay`: run recorded calls through the live pipeline and compare with what happened."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "replay a stored call (CALL_ID), a recording, a folder or a campaign through VAD, ASR, intents and dialogue"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", help="call id in the store, a stereo recording (.wav) or a folder of them")
    parser.add_argument("--campaign", metavar="ID", help="replay every recorded call of this campaign")
    parser.add_argument("--model", type=Path, metavar="DIR", help="Vosk model folder: recognize the audio with it")
    parser.add_argument("--script", metavar="SET", help="replay with this script set instead of the live one")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--config", type=Path, default=None, help="server.toml (default: config/server.toml)")
    parser.add_argument("--store", type=Path, default=None, help="campaign store (default: [store] path)")
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
    from qa.jobs import ReplayJob, ReplayReport, job_from_file, job_from_store, jobs_for_campaign, run_job
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
            for wav in sorted(target.glob("*.wav")):
                try:
                    jobs.append(job_from_file(wav, args.borrower))
                except ReplayError as exc:
                    errors.append(str(exc))
        elif target is not None:
            jobs = [job_from_file(target, args.borrower)]
    except (ReplayError, NotFoundError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    if not jobs:
        print("replay: nothing to replay" + (": " + "; ".join(errors) if errors else ""), file=sys.stderr)
        return 2

    vosk = None
    needs_asr = args.model is not None or any(j.live is None or j.live.recognizer != "sim" for j in jobs)
    if needs_asr:
        from asr.vosk_recognizer import ModelError, VoskRecognizer, shared_vosk_model
        from qa.replay import InlinePool, InlineReactor

        try:
            model = shared_vosk_model(args.model or config.asr.resolved_model_path())
        except ModelError as exc:
            print(f"replay: {exc}", file=sys.stderr)
            return 2
        from twisted.internet.task import Clock

        # keep_idle=0: each replayed call gets a fresh recognizer, so results never depend on replay order.
        vosk = VoskRecognizer(model, InlineReactor(Clock()), InlinePool(), config.asr.partial_interval_ms, keep_idle=0)
    segments = load_segments(config.dialogue.segments_file, script_sets=frozenset(library.script_sets))
    kit = ReplayKit(
        config=config,
        classifier=IntentClassifier.load(),
        library=library,
        renderer=build_renderer(config.prompts, library.fragments),
        segments=segments,
        vosk=vosk,
    )
    rules = load_rules()
    reports: list[ReplayReport] = []
    for job in jobs:
        try:
            reports.append(run_job(job, kit, rules, script_set=args.script, force_asr=args.model is not None))
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

"""`server.py serve`: the SIP side, the campaign scheduler and the HTTP server in one process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from config.server_config import DEFAULT_SERVER_TOML

HELP = "run the coordinator (scheduler, compliance gate, HTTP API/dashboard) and its call-worker processes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_SERVER_TOML, help="server.toml (default: %(default)s)")
    parser.add_argument("--http-port", type=int, default=None, help="override [http] port (0 = any free port)")
    parser.add_argument("--sip-port", type=int, default=None, help="override [sip] port (0 = any free port)")
    parser.add_argument("--store", type=Path, default=None, help="use this SQLite file as the store")
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="call-worker processes (override [workers] count); 0 = calls in this process (one pjsua2, 4 calls)",
    )
    parser.add_argument(
        "--no-session", action="store_true",
        help="trunk check mode: answered calls are hung up at once and recorded as such (no ASR/dialogue)",
    )


def script_problems(config: Any) -> tuple[Any, list[str]]:
    """(library, problems): the scripts must load and pass the linter, and the prompt manifest must cover them.

    Checked before anything listens or dials, in every mode: a campaign must never start on a
    script the linter rejects (C4-C8 are checked there), and a fragment without a recording would
    only be found mid-call. The manifest is read without its audio here (tens of ms); session mode
    loads and checks the recordings themselves when it builds the renderer.
    """
    from config.errors import ConfigError
    from dialogue.lint import lint_library, require_clean
    from dialogue.scripts import load_script_library
    from prompts.assets import AssetError, coverage_problems, read_manifest

    try:
        library = load_script_library(config.dialogue.scripts_dir)
    except ConfigError as exc:
        return None, [f"scripts {config.dialogue.scripts_dir} cannot be loaded: {exc}"]
    problems: list[str] = []
    manifest = config.prompts.manifest
    try:
        require_clean(library, manifest if manifest.exists() else None)
    except ConfigError:
        errors = lint_library(library, manifest if manifest.exists() else None)
        problems.append(f"{library.root}: the scripts fail the linter ({len(errors)} error(s)):")
        problems += [f"  {e}" for e in errors]
    try:
        entries = read_manifest(manifest)
    except AssetError as exc:
        problems.append(str(exc))
    else:
        found = coverage_problems(entries, library.fragments, manifest)
        if found:
            problems.append(str(AssetError(manifest, found)))
    try:  # promise follow-up calls name script sets in strategies.toml (docs/promises.md)
        from config.campaign_config import load_strategies, unknown_script_sets

        problems += unknown_script_sets(load_strategies(config.campaign.strategies_file), library.script_sets)
    except ConfigError as exc:
        problems.append(str(exc))
    return library, problems


def agent_warning(config: Any) -> str | None:
    """C9: trunks with no `agent_uri` cannot transfer; say so at start (the bot offers a callback instead)."""
    missing = [t.name for t in config.trunks if not t.agent_uri]
    if not missing:
        return None
    names = ", ".join(repr(n) for n in missing)
    return (f"warning: no agent_uri for trunk {names}: complaining borrowers and requests for a person get a "
            "callback by a person instead of a transfer (set [[trunks]] agent_uri to transfer)")


def _session_runner(config: Any, reactor: Any, library: Any, warmed: list[Any] | None = None) -> Any:
    """The session's runner with its shared heavy parts (model, classifier, scripts, prompt cache).

    `warmed` (optional) receives the Deferred of the prompt pre-rendering (a call worker waits for it).
    """
    from twisted.python.threadpool import ThreadPool

    from asr.recognizer import build_recognizer
    from dialogue.intents.model import IntentClassifier
    from dialogue.segments import load_segments
    from prompts.renderer import build_renderer
    from session.runner import SessionRunner

    pool = ThreadPool(minthreads=1, maxthreads=2, name="session-workers")
    pool.start()
    try:
        segments = load_segments(config.dialogue.segments_file, script_sets=frozenset(library.script_sets))
        renderer = build_renderer(config.prompts, library.fragments)
        runner = SessionRunner(
            config=config, reactor=reactor, recognizer=build_recognizer(config.asr, reactor, pool),
            classifier=IntentClassifier.load(), library=library,
            renderer=renderer, render_pool=pool, segments=segments,
        )
    except BaseException:
        pool.stop()  # its threads would keep a failed start-up process alive
        raise
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    done = _prerender_prompts(reactor, pool, renderer, library, config.media.clock_rate)
    if warmed is not None:
        warmed.append(done)
    return runner


def _prerender_prompts(reactor: Any, pool: Any, renderer: Any, library: Any, rate: int) -> Any:
    """Render every script set's fixed prompts (and the coming weeks' dates) once, off the reactor.

    Any campaign may use any set, so the server warms them all at start instead of per campaign; calls
    placed meanwhile still work, rendering what is not warm yet on the same pool.
    """
    import datetime as dt
    import logging

    from twisted.internet.threads import deferToThreadPool

    from prompts.warmup import prerender_script_sets
    from telemetry.logging import log_event

    log = logging.getLogger("serve")
    sets = sorted(library.script_sets)
    warmed = deferToThreadPool(
        reactor, pool, prerender_script_sets, renderer, library, sets, rate, today=dt.date.today()
    )
    return warmed.addCallbacks(
        lambda made: log_event(log, "prompts.prerendered", script_sets=len(sets), pieces=made),
        lambda failure: log_event(
            log, "prompts.prerender_failed", logging.ERROR, error=failure.getErrorMessage()
        ),
    )


def _worker_pool(config: Any, reactor: Any, args: argparse.Namespace, count: int) -> Any:
    """The call workers (`workers.pool.WorkerPool`), each started with this server's config file."""
    import dataclasses

    from workers.pool import ProcessSpawner, WorkerPool

    settings = dataclasses.replace(config.workers, count=count)
    spawner = ProcessSpawner(reactor, Path(args.config).resolve(), count, settings.calls_per_worker,
                             no_session=bool(args.no_session))
    return WorkerPool(settings, reactor, spawner, base_sip_port=config.sip.port)


def _install_sigint(reactor: Any, pool: Any) -> None:
    """First SIGINT drains like SIGTERM; a second one stops at once (workers killed, attempts recovered later)."""
    import os
    import signal

    seen: list[int] = []

    def on_sigint(*_: object) -> None:
        seen.append(1)
        if len(seen) == 1:
            reactor.callFromThread(reactor.stop)
            return
        pool.kill_now()
        os._exit(130)

    signal.signal(signal.SIGINT, on_sigint)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import signal
    import sys

    from twisted.internet import reactor as global_reactor

    from api.app import build_app
    from config.errors import ConfigError
    from config.server_config import load_server_config
    from telemetry.logging import configure_logging

    reactor: Any = global_reactor
    config = load_server_config(args.config)
    if args.http_port is not None:
        config = dataclasses.replace(config, http=dataclasses.replace(config.http, port=args.http_port))
    if args.sip_port is not None:
        config = dataclasses.replace(config, sip=dataclasses.replace(config.sip, port=args.sip_port))
    if args.store is not None:
        config = dataclasses.replace(config, store=dataclasses.replace(config.store, path=args.store, url=None))
    configure_logging(config.logging.level, config.logging.format)
    if not config.http.tokens:
        print("warning: [http] tokens is empty, so every API request will be refused (401)", file=sys.stderr)
    if not args.no_session and (no_agent := agent_warning(config)) is not None:
        print(no_agent, file=sys.stderr)
    library, problems = script_problems(config)
    if problems:
        print("error: serve refuses to start with these scripts or prompt recordings:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    count = config.workers.count if getattr(args, "workers", None) is None else args.workers
    if count < 0 or count > 64:
        print(f"error: --workers {count}: expected 0 (single process) to 64", file=sys.stderr)
        return 2
    pool = None
    runner = None
    if count > 0:  # the coordinator: calls (pjsua2, sessions) run in call-worker processes
        pool = _worker_pool(config, reactor, args, count)
    else:
        try:
            runner = None if args.no_session else _session_runner(config, reactor, library)
        except ConfigError:
            raise
        except Exception as exc:  # model missing, scripts invalid...: say what, do not dump a traceback
            print(f"error: the call session cannot start: {exc}", file=sys.stderr)
            print("(use --no-session to run SIP, scheduler and HTTP without conversations)", file=sys.stderr)
            return 2
    app = build_app(config, reactor, runner=runner, workers=pool)
    status = {"code": 0}

    def started(_: object) -> None:
        # One line on stdout that scripts (and tests) can wait for.
        if pool is not None:
            ports = ",".join(str(w.sip_port) for w in pool.snapshot() if w.sip_port is not None)
            print(f"serving http://{config.http.bind_address}:{app.http_port}/ sip ports {ports} "
                  f"workers {len(pool.snapshot())} call slots {pool.max_calls}", flush=True)
            return
        print(f"serving http://{config.http.bind_address}:{app.http_port}/ sip port "
              f"{getattr(app.endpoint, 'local_port', 0)}", flush=True)

    def failed(failure: Any) -> None:
        print(f"serve failed to start: {failure.getErrorMessage()}", file=sys.stderr)
        status["code"] = 1
        reactor.stop()

    def shutdown() -> Any:
        return app.stop()

    reactor.callWhenRunning(lambda: app.start().addCallbacks(started, failed))
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    if pool is not None:
        _install_sigint(reactor, pool)
    reactor.run()
    return status["code"]

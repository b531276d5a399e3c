"""`server.py demo`: a real campaign against simulated borrowers on loopback, with a summary at the end.

Everything the server uses in production runs here: the pjsua2 `SipEndpoint`, the campaign store,
scheduler (with its compliance gate) and dialer, the call session with VAD, dialogue and spliced
prompts. Only two things are simulated, and the output says so: the borrowers (a separate
`sim.phone` process speaking espeak-ng audio) and the recognizer (`sim`: the phone hands its words
over in SIP INFO, because no Mandarin Vosk model can be installed on these machines).

The call window (C1) is never loosened for the demo. Instead the demo reads the strictest window of
the strategies, and if the borrowers' own zone (Asia/Shanghai) is outside it right now, it moves
the demo borrowers to a real IANA zone where it is daytime and says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

HELP = "run a campaign of simulated borrowers over SIP on loopback and print a summary"

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "config" / "demo"
PREFERRED_ZONE = "Asia/Shanghai"
# Real zones spread over every UTC offset, tried when the borrowers' own zone is outside the window.
CANDIDATE_ZONES = (  # tried in this order: familiar zones first, the rest cover every UTC offset
    "Asia/Shanghai", "Asia/Tokyo", "Asia/Singapore", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow",
    "Europe/Berlin", "Europe/London", "America/Sao_Paulo", "America/New_York", "America/Chicago",
    "America/Denver", "America/Los_Angeles", "Pacific/Honolulu", "Australia/Sydney", "Pacific/Auckland",
    "Pacific/Kiritimati", "Pacific/Noumea", "Asia/Bangkok", "Asia/Dhaka", "Asia/Karachi", "Europe/Athens",
    "Atlantic/Azores", "Atlantic/South_Georgia", "America/Halifax", "America/Anchorage", "Pacific/Pago_Pago",
)
SIM_NOTICE = (
    "ASR: the simulated-transcript ('sim') recognizer is used because no Mandarin Vosk model is installed\n"
    "     (looked for {model}); each simulated borrower sends its words in a SIP INFO.\n"
    "     VAD, RTP, barge-in and timing are real."
)
SIM_WITH_MODEL_NOTICE = (
    "ASR: the simulated-transcript ('sim') recognizer is used: a Mandarin model is installed at {model},\n"
    "     but the simulated borrowers speak espeak-ng audio; `--recognizer vosk` runs the model on it instead.\n"
    "     VAD, RTP, barge-in and timing are real."
)
VOSK_NOTICE = "ASR: Vosk with the model at {model} (the simulated borrowers' INFO transcripts are ignored)."
WHISPER_NOTICE = (
    "ASR: whisper (faster-whisper, Whisper base) recognizes the borrowers' espeak-ng audio; their INFO transcripts\n"
    "     are ignored, and only used afterwards to count the turns understood as intended."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEMO_DIR / "server.toml", help="demo server.toml")
    parser.add_argument("--borrowers", type=Path, default=DEMO_DIR / "borrowers.jsonl", help="borrowers (JSONL)")
    parser.add_argument("--numbers", type=Path, default=DEMO_DIR / "sim_numbers.toml", help="number -> persona map")
    parser.add_argument(
        "--night", type=Path, default=DEMO_DIR / "borrowers_night.jsonl",
        help="borrowers placed where it is night now: the compliance gate must not dial them (C1)",
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N borrowers")
    parser.add_argument("--out", type=Path, default=Path("var/demo"), help="folder for each run's store and recordings")
    parser.add_argument("--timeout", type=float, default=240.0, help="give up after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON after the table")
    parser.add_argument("--keep-serving", action="store_true", help="keep the dashboard up after the summary")
    parser.add_argument(
        "--recognizer", choices=("sim", "vosk", "whisper"), default="sim",
        help="sim (default): the borrowers' words come by SIP INFO; vosk: the configured Mandarin model hears them; "
             "whisper: faster-whisper hears them (extra zh-asr)",
    )


# -- call window and time zone (C1) -----------------------------------------------------------------


@dataclass(frozen=True)
class ZoneChoice:
    zone: str
    local_time: dt.time
    moved: bool  # True: the preferred zone was outside the window now
    preferred_local_time: dt.time


def strictest_window(windows: Iterable[tuple[dt.time, dt.time]]) -> tuple[dt.time, dt.time]:
    """The intersection of every strategy's window: a demo borrower may land in any segment."""
    spans = list(windows)
    if not spans:
        raise ValueError("no call windows to intersect")
    start = max(s for s, _ in spans)
    end = min(e for _, e in spans)
    if start >= end:
        raise ValueError(f"the strategies' call windows do not overlap ({start:%H:%M} >= {end:%H:%M})")
    return start, end


def choose_zone(
    now: dt.datetime, window: tuple[dt.time, dt.time], margin_min: int = 60,
    preferred: str = PREFERRED_ZONE, candidates: Sequence[str] = CANDIDATE_ZONES,
) -> ZoneChoice:
    """The preferred zone if it is inside the window with a margin, else the first candidate that is.

    `now` must be timezone-aware. The margin keeps the whole demo (a few minutes) inside the window.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start, end = window
    lo = start.hour * 60 + start.minute + margin_min
    hi = end.hour * 60 + end.minute - margin_min
    preferred_local = now.astimezone(ZoneInfo(preferred)).time().replace(microsecond=0)
    for name in (preferred, *candidates):
        local = now.astimezone(ZoneInfo(name)).time().replace(microsecond=0)
        if lo <= local.hour * 60 + local.minute <= hi:
            return ZoneChoice(name, local, name != preferred, preferred_local)
    raise ValueError("no candidate time zone is inside the call window now")


def choose_night_zone(
    now: dt.datetime, window: tuple[dt.time, dt.time], margin_min: int = 60,
    candidates: Sequence[str] = CANDIDATE_ZONES,
) -> ZoneChoice:
    """The first candidate zone where it is now outside the call window by at least the margin."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start, end = window
    lo = start.hour * 60 + start.minute - margin_min
    hi = end.hour * 60 + end.minute + margin_min
    for name in candidates:
        local = now.astimezone(ZoneInfo(name)).time().replace(microsecond=0)
        if not lo <= local.hour * 60 + local.minute <= hi:
            return ZoneChoice(name, local, True, local)
    raise ValueError("no candidate time zone is outside the call window now")


def prepare_borrowers(records: Sequence[dict[str, Any]], zone: str, today: dt.date) -> list[dict[str, Any]]:
    """Demo records made current: the chosen zone, and due dates that agree with `overdue_days` today."""
    out = []
    for record in records:
        overdue = int(record.get("overdue_days", 0))
        due = today - dt.timedelta(days=overdue) if overdue > 0 else today + dt.timedelta(days=3)
        out.append({**record, "timezone": zone, "due_date": due.isoformat()})
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}:{n}: expected a JSON object per line")
        records.append(value)
    return records


# -- summary ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    borrower_id: str
    persona: str
    disposition: str
    outcome: str
    promise: str
    turns: int
    interrupted: int
    end_reason: str
    recording: str | None
    engaged: bool = False  # dialogue.engagement.is_engaged: identity confirmed, about the debt, not cut short


@dataclass
class DemoSummary:
    rows: list[CallRow] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    recognizers: set[str] = field(default_factory=set)

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies_ms, 95)

    def counts(self, attr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            key = getattr(row, attr)
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [row.__dict__ for row in self.rows],
            "dispositions": self.counts("disposition"),
            "outcomes": self.counts("outcome"),
            "voice_to_voice_ms": {"turns": len(self.latencies_ms), "p50": self.p50, "p95": self.p95},
            "recognizers": sorted(self.recognizers),
            "engaged_turns": self.engaged_turns().to_dict(),
        }

    def engaged_turns(self) -> Any:
        """Borrower turns per engaged conversation (issue 12's "5 interaction turns" figure)."""
        from dialogue.engagement import turn_stats

        return turn_stats(r.turns for r in self.rows if r.engaged)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a latency that really happened)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return float(ordered[int(rank) - 1])


def summarize(calls: Iterable[dict[str, Any]], personas: dict[str, str]) -> DemoSummary:
    """Rows from the store's call records (latest attempt per borrower first in the table order)."""
    from dialogue.engagement import is_engaged

    summary = DemoSummary()
    for call in calls:
        record = call.get("record") or {}
        outcome = record.get("outcome") or {}
        turns = record.get("turns") or []
        promise = ""
        if outcome.get("disposition") == "promise_to_pay":
            amount = outcome.get("ptp_amount")
            day = outcome.get("ptp_date") or "?"
            promise = f"{day} / {amount:,.2f}" if amount else str(day)
        for turn in turns:
            if turn.get("latency_ms") is not None and turn.get("event") != "opening":
                summary.latencies_ms.append(float(turn["latency_ms"]))
        if record.get("recognizer") and call.get("disposition") == "answered":
            summary.recognizers.add(str(record["recognizer"]))
        summary.rows.append(CallRow(
            borrower_id=str(call.get("borrower_id", "")),
            persona=personas.get(str(call.get("borrower_id", "")), "?"),
            disposition=str(call.get("disposition", "")),
            outcome=str(outcome.get("disposition") or "-"),
            promise=promise,
            turns=int(outcome.get("turns") or sum(1 for t in turns if t.get("event") in ("utterance", "dtmf"))),
            interrupted=sum(1 for t in turns if t.get("interrupted")),
            end_reason=_short(str(record.get("end_reason") or record.get("sip_reason") or "")),
            recording=call.get("recording"),
            engaged=is_engaged(outcome),
        ))
    summary.rows.sort(key=lambda r: r.borrower_id)
    return summary


def format_summary(summary: DemoSummary) -> str:
    head = ("borrower", "persona", "SIP", "outcome", "promise (date / amount)", "turns", "barge-in", "end")
    rows = [(r.borrower_id, r.persona, r.disposition, r.outcome, r.promise or "-", str(r.turns),
             str(r.interrupted), r.end_reason) for r in summary.rows]
    widths = [max(len(h), *(_width(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("")
    lines.append("dispositions: " + ", ".join(f"{k} {v}" for k, v in summary.counts("disposition").items()))
    lines.append("outcomes:     " + ", ".join(f"{k} {v}" for k, v in summary.counts("outcome").items()))
    if summary.latencies_ms:
        lines.append(f"voice-to-voice over {len(summary.latencies_ms)} turns: p50 {summary.p50:.0f} ms, "
                     f"p95 {summary.p95:.0f} ms (end of borrower speech -> first bot frame to the media bridge)")
    else:
        lines.append("voice-to-voice: no borrower turns were answered")
    lines.append(summary.engaged_turns().describe())
    return "\n".join(lines)


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


class ProgressDisplay:
    """One live line on a TTY; plain lines otherwise (on change, at most every 2 s; else every 10 s)."""

    def __init__(self, out: TextIO, total: int, started: float) -> None:
        self.out = out
        self.total = total
        self.started = started
        self.tty = out.isatty()
        self._state = ""
        self._printed_state = ""
        self._last_at = float("-inf")

    def update(self, now: float, counts: dict[str, Any], in_flight: int, reached: int) -> None:
        attempts = int(counts.get("attempts", 0)) - int(counts.get("attempts_pending", 0))
        dispositions = counts.get("dispositions", {})
        answered = int(dispositions.get("answered", 0))
        state = (f"borrowers called {reached}/{self.total}, calls finished {attempts}, in progress {in_flight}, "
                 f"answered {answered}, promises {counts.get('promises', 0)}")
        refused = counts.get("refusals_by_rule") or {}
        if refused:
            state += ", refused " + ", ".join(f"{k} {v}" for k, v in refused.items())
        self._state = state
        line = f"[{now - self.started:5.1f}s] {state}"
        if self.tty:
            self.out.write("\r" + line + "\033[K")
            self.out.flush()
            return
        changed = state != self._printed_state
        if (changed and now - self._last_at >= 2.0) or now - self._last_at >= 10.0:
            self._print(line, now)
        self._last_line = line

    def _print(self, line: str, now: float) -> None:
        self.out.write(line + "\n")
        self.out.flush()
        self._printed_state = self._state
        self._last_at = now

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
        elif self._state and self._state != self._printed_state:
            self._print(self._last_line, self._last_at)  # the final state, never left unprinted


# -- the run ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from config.errors import ConfigError
    from config.server_config import load_server_config
    from sim.personas import load_number_map, load_personas
    from sim.process import SimPhoneError, SimPhoneProcess

    out = sys.stdout
    records = read_jsonl(args.borrowers)
    if args.limit is not None:
        if args.limit < 1:
            print("--limit must be at least 1", file=sys.stderr)
            return 2
        records = records[: args.limit]
    night = read_jsonl(args.night) if args.night else []
    book = load_personas()
    numbers = load_number_map(args.numbers, book)
    run_dir = args.out / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    config = load_server_config(args.config)  # a bad file stops here, before any process starts
    model = config.asr.resolved_model_path()
    if args.recognizer == "vosk" and not model.is_dir():
        print(f"--recognizer vosk: no Vosk model at {model} ([asr] model_path in {args.config})", file=sys.stderr)
        return 2
    print("Collections voice-bot demo: a real campaign against simulated borrowers on 127.0.0.1", file=out)
    if args.recognizer == "vosk":
        print(VOSK_NOTICE.format(model=model), file=out)
    elif args.recognizer == "whisper":
        print(WHISPER_NOTICE, file=out)
    else:
        print((SIM_WITH_MODEL_NOTICE if model.is_dir() else SIM_NOTICE).format(model=model), file=out)
    phone = SimPhoneProcess(numbers=args.numbers, log_path=run_dir / "sim-phone.jsonl",
                            cache_dir=args.out / "sim-voice-cache")
    try:
        port = phone.start()
    except SimPhoneError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"Simulated borrowers: sim.phone pid {phone.pid} on sip:127.0.0.1:{port} "
          f"({len(book.personas)} personas, chosen by dialed number from {args.numbers})", file=out)
    try:
        demo = _Demo(args, records, night, numbers, run_dir, port, out)
        return demo.run()
    except ConfigError:
        raise
    finally:
        code = phone.stop()
        print(f"Simulated borrowers stopped (exit code {code}).", file=out)


class _Demo:
    def __init__(self, args: argparse.Namespace, records: list[dict[str, Any]], night: list[dict[str, Any]],
                 numbers: dict[str, str], run_dir: Path, sim_port: int, out: TextIO) -> None:
        self.args = args
        self.records = records
        self.night = night
        self.numbers = numbers
        self.run_dir = run_dir
        self.sim_port = sim_port
        self.out = out
        self.code = 1
        self._shutdown_waits: list[Any] = []
        self.interrupted = False

    def run(self) -> int:
        from twisted.internet import reactor as global_reactor
        from twisted.internet.defer import ensureDeferred

        reactor: Any = global_reactor

        finished: list[Any] = []

        def main() -> None:
            d = ensureDeferred(self._main(reactor))
            d.addErrback(self._crashed)
            finished.append(d)
            d.addBoth(lambda _: reactor.stop() if not shutting_down else None)

        shutting_down = False

        def before_shutdown() -> Any:
            # Ctrl-C or SIGTERM: let the run close the app and the SIP endpoint before the reactor goes.
            nonlocal shutting_down
            shutting_down = True
            self.interrupted = True
            for waiting in self._shutdown_waits:
                if not waiting.called:
                    waiting.callback(None)
            return finished[0] if finished and not finished[0].called else None

        reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
        reactor.callWhenRunning(main)
        reactor.run()
        return self.code

    def _report_night(
        self, store: Any, campaign_id: str, night: list[dict[str, Any]], refused: dict[str, int]
    ) -> bool:
        """True when no night borrower was dialled and the gate logged C1 refusals for them."""
        held = True
        for record in night:
            state = store.get_borrower(campaign_id, record["id"])
            if state.attempts_total:
                held = False
                print(f"C1 NOT HELD: {record['id']} was dialled at night in {record['timezone']}", file=self.out)
                continue
            retry = "-"
            if state.next_due_at is not None:
                local = dt.datetime.fromtimestamp(state.next_due_at, ZoneInfo(record["timezone"]))
                retry = f"{local:%Y-%m-%d %H:%M} local"
            print(f"C1 held: {record['id']} ({record['timezone']}) was not dialled; next allowed attempt {retry}",
                  file=self.out)
        if night and not refused.get("C1"):
            held = False
            print("C1 check inconclusive: no C1 refusal was recorded for the night borrowers", file=self.out)
        return held

    def _until_shutdown(self, reactor: Any) -> Any:
        """A Deferred that fires when the reactor starts shutting down (Ctrl-C, SIGTERM)."""
        from twisted.internet.defer import Deferred

        stopping: Deferred[None] = Deferred()
        self._shutdown_waits.append(stopping)
        return stopping

    def _crashed(self, failure: Any) -> None:
        """Operators get the message; the traceback goes to the run's log for whoever debugs it."""
        print(f"\ndemo failed: {failure.getErrorMessage()}", file=sys.stderr)
        with (self.run_dir / "demo-error.txt").open("a", encoding="utf-8") as fh:
            fh.write(failure.getTraceback())
        print(f"(traceback in {self.run_dir / 'demo-error.txt'})", file=sys.stderr)
        self.code = 1

    async def _main(self, reactor: Any) -> None:
        import dataclasses
        import secrets

        from twisted.internet.task import deferLater
        from twisted.internet.threads import deferToThreadPool
        from twisted.python.threadpool import ThreadPool

        from api.app import build_app
        from asr.recognizer import build_recognizer
        from campaign.compliance import effective_window
        from config.campaign_config import load_strategies
        from config.server_config import load_server_config
        from dialogue.borrower import Borrower
        from dialogue.intents.model import IntentClassifier
        from dialogue.scripts import load_script_library
        from dialogue.segments import load_segments, segment_for
        from prompts.renderer import build_renderer
        from prompts.warmup import prerender_script_sets
        from session.runner import SessionRunner
        from telemetry.logging import configure_logging

        out = self.out
        config = load_server_config(self.args.config)
        trunk = dataclasses.replace(config.trunks[0], proxy=f"sip:127.0.0.1:{self.sim_port}")
        token = secrets.token_urlsafe(18)
        config = dataclasses.replace(
            config,
            trunks=(trunk, *config.trunks[1:]),
            asr=dataclasses.replace(config.asr, recognizer=self.args.recognizer),
            calls=dataclasses.replace(config.calls, recording_dir=self.run_dir / "recordings"),
            store=dataclasses.replace(config.store, path=self.run_dir / "campaigns.sqlite3"),
            http=dataclasses.replace(config.http, tokens=(token,)),
            campaign=dataclasses.replace(config.campaign, default_trunk=trunk.name),
        )
        (self.run_dir / "dashboard-token.txt").write_text(token + "\n", encoding="utf-8")
        log_file = (self.run_dir / "server.log").open("a", encoding="utf-8")
        configure_logging(config.logging.level, config.logging.format, stream=log_file)
        strategies = load_strategies(config.campaign.strategies_file)
        library = load_script_library()
        segments = load_segments(config.dialogue.segments_file, script_sets=frozenset(library.script_sets))

        # C1: never loosened; the demo borrowers live where it is daytime now.
        window = _strictest(strategies, effective_window)
        choice = choose_zone(dt.datetime.now(dt.UTC), window)
        if choice.moved:
            print(f"Call window (C1, strictest strategy): {window[0]:%H:%M}-{window[1]:%H:%M} borrower local time. "
                  f"It is {choice.preferred_local_time:%H:%M} in {PREFERRED_ZONE}, outside it, so the demo borrowers "
                  f"are placed in {choice.zone} (local time {choice.local_time:%H:%M}). The rule itself is unchanged.",
                  file=out)
        else:
            print(f"Call window (C1, strictest strategy): {window[0]:%H:%M}-{window[1]:%H:%M} borrower local time; "
                  f"it is {choice.local_time:%H:%M} in {choice.zone}, inside it.", file=out)
        today = dt.datetime.now(ZoneInfo(choice.zone)).date()
        records = prepare_borrowers(self.records, choice.zone, today)
        night_records: list[dict[str, Any]] = []
        if self.night:
            dark = choose_night_zone(dt.datetime.now(dt.UTC), window)
            night_records = prepare_borrowers(self.night, dark.zone, dt.datetime.now(ZoneInfo(dark.zone)).date())
            print(f"Compliance check: {', '.join(r['id'] for r in night_records)} placed in {dark.zone} where it is "
                  f"{dark.local_time:%H:%M}, outside the window: the scheduler must refuse to dial (C1).", file=out)
        personas = {r["id"]: _persona_for(str(r["phone"]), self.numbers) for r in records}
        borrowers = [Borrower.from_dict(r) for r in records]
        used_sets = sorted({segment_for(b, segments).script_set for b in borrowers})
        print(f"Borrowers: {len(records)} across {len({segment_for(b, segments).name for b in borrowers})} segments "
              f"and {len(used_sets)} script sets", file=out)

        pool = ThreadPool(minthreads=1, maxthreads=2, name="demo-session")
        pool.start()
        app = None
        try:
            classifier = IntentClassifier.load()
            renderer = build_renderer(config.prompts, library.fragments)
            warmed = await deferToThreadPool(
                reactor, pool, prerender_script_sets, renderer, library, used_sets, config.media.clock_rate)
            print(f"Prompts: {warmed} fragments pre-rendered at {config.media.clock_rate} Hz", file=out)
            runner = SessionRunner(
                config=config, reactor=reactor, recognizer=build_recognizer(config.asr, reactor, pool),
                classifier=classifier, library=library, renderer=renderer, render_pool=pool, segments=segments,
                trunk=trunk.name,
            )
            app = build_app(config, reactor, runner=runner)
            await app.start()
            dashboard = f"http://{config.http.bind_address}:{app.http_port}/"
            print(f"Dashboard: {dashboard}  (bearer token {token}, also in {self.run_dir / 'dashboard-token.txt'})",
                  file=out)
            service, store, dialer = app.service, app.store, app.dialer
            campaign = service.create_campaign(
                "demo", timezone=choice.zone, trunk=trunk.name, actor="demo",
                max_concurrent_calls=min(trunk.max_concurrent_calls, config.campaign.max_concurrent_calls),
            )
            report = service.import_records(campaign.id, [*records, *night_records], actor="demo")
            if report.errors:
                raise RuntimeError(f"demo borrowers refused by the importer: {report.to_dict()['errors']}")
            started = time.monotonic()
            service.start(campaign.id, actor="demo")
            display = ProgressDisplay(out, len(records), started)
            day_ids = {r["id"] for r in records}
            while True:
                counts = store.progress(campaign.id)
                tried = [b for b in store.list_borrowers(campaign.id) if b.attempts_total > 0]
                done = sum(1 for b in tried if b.borrower_id in day_ids)
                display.update(time.monotonic(), counts, dialer.in_flight(campaign.id), done)
                if done >= len(records) and dialer.in_flight(campaign.id) == 0:
                    break
                if self.interrupted:
                    display.close()
                    print(f"demo: interrupted with {done}/{len(records)} borrowers called", file=out)
                    break
                if time.monotonic() - started > self.args.timeout:
                    display.close()
                    print(f"demo: stopped after {self.args.timeout:.0f} s with {done}/{len(records)} borrowers called",
                          file=out)
                    break
                await deferLater(reactor, 0.5, lambda: None)
            display.close()
            elapsed = time.monotonic() - started
            if store.get_campaign(campaign.id).state != "finished":
                service.stop(campaign.id, actor="demo")  # retries and callbacks are for another day
            app.scheduler.stop()
            await app.scheduler.wait_idle()
            calls = [store.get_call(c["call_id"]) for c in store.list_calls(campaign.id, limit=1000, offset=0)]
            summary = summarize(calls, personas)
            counts = store.progress(campaign.id)
            print(f"\nCampaign {campaign.id}: {len(calls)} calls in {elapsed:.0f} s\n", file=out)
            print(format_summary(summary), file=out)
            unstored = int(counts["attempts"]) - len(calls)
            if unstored > 0:
                print(f"WARNING: {unstored} attempt(s) left no stored call record "
                      f"(see campaign.attempt_failed in {self.run_dir / 'server.log'})", file=out)
            refused = counts.get("refusals_by_rule") or {}
            if refused:
                print("compliance refusals: " + ", ".join(f"{k} {v}" for k, v in refused.items()), file=out)
            held = self._report_night(store, campaign.id, night_records, refused)
            if summary.recognizers:
                simulated = " (simulated transcripts sent by SIP INFO)" if "sim" in summary.recognizers else ""
                print(f"recognizer used: {', '.join(sorted(summary.recognizers))}{simulated}", file=out)
            print(f"\nstore:      {store.path}", file=out)
            print(f"recordings: {self.run_dir / 'recordings'} (stereo: bot left, borrower right)", file=out)
            print(f"logs:       {self.run_dir / 'server.log'} (server), {self.run_dir / 'sim-phone.jsonl'} (sim phone)",
                  file=out)
            extra: dict[str, Any] = {}
            if self.args.recognizer != "sim":
                from cli.demo_understood import count_understood, sim_lines

                understood = count_understood(calls, personas, sim_lines(self.run_dir / "sim-phone.jsonl"),
                                              lambda text: classifier.classify(text).intent)
                print(understood.describe(), file=out)
                extra["understood"] = understood.to_dict()
            summary_json = json.dumps(
                {"campaign": campaign.id, "seconds": round(elapsed, 1), "zone": choice.zone, **summary.to_dict(),
                 **extra},
                ensure_ascii=False, indent=1)
            (self.run_dir / "summary.json").write_text(summary_json + "\n", encoding="utf-8")
            print(f"summary:    {self.run_dir / 'summary.json'}", file=out)
            if self.args.json:
                print(summary_json, file=out)
            reached = {c["borrower_id"] for c in calls}
            self.code = 0 if len(reached) >= len(records) and unstored <= 0 and held else 1
            if self.args.keep_serving:
                print(f"dashboard:  {dashboard} (token {token}) - serving until Ctrl-C", file=out, flush=True)
                await self._until_shutdown(reactor)
            else:
                print(f"dashboard:  {dashboard} was up during the run; to keep it up after the summary run "
                      "`make demo KEEP=1` (or `server.py demo --keep-serving`)", file=out)
        finally:
            if app is not None:
                await app.stop()
                await deferLater(reactor, 0.5, lambda: None)  # let the last BYEs reach the sim phone
            pool.stop()
            log_file.close()


def _strictest(strategies: Any, effective_window: Any) -> tuple[dt.time, dt.time]:
    windows = [effective_window(strategy, True) for strategy in strategies.strategies.values()]
    return strictest_window((w.start, w.end) for w in windows)


def _persona_for(phone: str, numbers: dict[str, str]) -> str:
    from sim.personas import number_spellings

    for spelling in number_spellings(phone.replace(" ", "").replace("-", "")):
        if spelling in numbers:
            return numbers[spelling]
    return "?"

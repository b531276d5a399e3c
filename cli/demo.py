"""`server.py demo`: a real campaign against simulated borrowers on loopback, with a summary at the end.

Everything the server uses in production runs here, in the shape `serve` has: a coordinator (the
campaign store, scheduler with its compliance gate, dialer, HTTP API) and a pool of call-worker
processes (`cli.call_worker`: pjsua2 `SipEndpoint`, the call session with VAD, dialogue and spliced
prompts). Only two things are simulated, and the output says so: the borrowers (`sim.phone`
processes speaking espeak-ng audio, one per four call slots, because a pjsua2 process holds four
calls) and the recognizer (`sim`: the phone hands its words over in SIP INFO, because no Mandarin
Vosk model can be installed on these machines). Each sim phone is a trunk of its own and gets one
campaign, so every phone carries at most its four calls (docs/demo.md, "Concurrency").

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from config.server_config import MAX_TRUNKS

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
        "--workers", type=int, default=None, metavar="N",
        help="call-worker processes (override [workers] count of --config); one sim phone per four call slots",
    )
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
    from cli.demo_pool import phones_for, settings_for
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
    if args.workers is not None and not 1 <= args.workers <= MAX_TRUNKS:
        # one sim phone (one trunk) per worker's four slots, and a server has at most MAX_TRUNKS trunks
        print(f"--workers {args.workers}: expected 1 to {MAX_TRUNKS} (one trunk per simulated phone)", file=sys.stderr)
        return 2
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
    settings = settings_for(config, args.workers)
    phones = [SimPhoneProcess(numbers=args.numbers, log_path=run_dir / f"sim-phone-{k + 1}.jsonl",
                              cache_dir=args.out / "sim-voice-cache")
              for k in range(min(phones_for(settings.total_slots), max(1, len(records))))]  # no idle phones
    try:
        try:  # each phone renders its voices and opens its endpoint on its own: start them side by side
            with ThreadPoolExecutor(max_workers=len(phones), thread_name_prefix="sim-phone-start") as starting:
                ports = list(starting.map(lambda phone: phone.start(), phones))
        except SimPhoneError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        for k, (phone, port) in enumerate(zip(phones, ports, strict=True), 1):
            print(f"Simulated borrowers {k}/{len(phones)}: sim.phone pid {phone.pid} on sip:127.0.0.1:{port} "
                  f"({len(book.personas)} personas, chosen by dialed number from {args.numbers})", file=out)
        demo = _Demo(args, records, night, numbers, run_dir, ports, out, settings)
        return demo.run()
    finally:
        started = [phone for phone in phones if phone.pid is not None]
        with ThreadPoolExecutor(max_workers=max(1, len(started)), thread_name_prefix="sim-phone-stop") as stopping:
            codes = list(stopping.map(lambda phone: phone.stop(), started))  # each hangs up its calls (BYE) and exits
        print(f"Simulated borrowers stopped (exit codes {', '.join(map(str, codes))}).", file=out)


class _Demo:
    def __init__(self, args: argparse.Namespace, records: list[dict[str, Any]], night: list[dict[str, Any]],
                 numbers: dict[str, str], run_dir: Path, sim_ports: list[int], out: TextIO, workers: Any) -> None:
        self.args = args
        self.records = records
        self.night = night
        self.numbers = numbers
        self.run_dir = run_dir
        self.sim_ports = sim_ports
        self.workers = workers  # config.workers_config.WorkersSettings
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
        import secrets

        from twisted.internet.task import deferLater

        from api.app import build_app
        from campaign.compliance import effective_window
        from cli.demo_pool import WatchedPool, demo_server_toml, merge_progress, split_borrowers
        from config.campaign_config import load_strategies
        from config.server_config import load_server_config
        from dialogue.borrower import Borrower
        from dialogue.scripts import load_script_library
        from dialogue.segments import load_segments, segment_for
        from telemetry.logging import configure_logging
        from workers.pool import ProcessSpawner

        out = self.out
        token = secrets.token_urlsafe(18)
        # Coordinator and call workers read one file: the demo's config with this run's phones, paths and token.
        run_toml, trunk_names = demo_server_toml(self.args.config, self.run_dir, self.sim_ports,
                                                 self.args.recognizer, token)
        config = load_server_config(run_toml)
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

        def to_log(data: bytes) -> None:  # the workers' masked JSON logs go to the run's server.log
            log_file.write(data.decode("utf-8", errors="replace"))
            log_file.flush()

        settings = self.workers
        trunk_limits = {t.name: t.max_concurrent_calls for t in config.trunks}
        pool = WatchedPool(
            settings, reactor, ProcessSpawner(reactor, run_toml.resolve(), settings.count, settings.calls_per_worker),
            base_sip_port=config.sip.port, log_sink=to_log, trunk_limits=trunk_limits,
        )
        app = None
        try:
            classifier = None
            if self.args.recognizer != "sim":  # only to count the turns understood as intended, afterwards
                from dialogue.intents.model import IntentClassifier

                classifier = IntentClassifier.load()
            app = build_app(config, reactor, workers=pool)
            started_at = time.monotonic()
            await app.start()
            up = [w for w in pool.snapshot() if w.state == "up"]
            print(f"Call workers: {len(up)} of {settings.count} up in {time.monotonic() - started_at:.0f} s "
                  f"(pids {', '.join(str(w.pid) for w in up)}; SIP ports {', '.join(str(w.sip_port) for w in up)}), "
                  f"{pool.max_calls} call slots; each pre-rendered its prompts before taking calls", file=out)
            dashboard = f"http://{config.http.bind_address}:{app.http_port}/"
            print(f"Dashboard: {dashboard}  (bearer token {token}, also in {self.run_dir / 'dashboard-token.txt'})",
                  file=out)
            service, store, dialer = app.service, app.store, app.dialer
            # One campaign per sim phone: the dialer picks a trunk per campaign, and each phone is a trunk.
            groups = split_borrowers(records, len(trunk_names))
            campaigns: list[tuple[Any, str]] = []  # (campaign, its trunk)
            for k, (trunk, group) in enumerate(zip(trunk_names, groups, strict=True)):
                if not group:
                    continue
                campaign = service.create_campaign(
                    f"demo {k + 1}/{len(trunk_names)}", timezone=choice.zone, trunk=trunk, actor="demo",
                    max_concurrent_calls=min(trunk_limits[trunk], config.campaign.max_concurrent_calls),
                )
                night_here = night_records if not campaigns else []  # the C1 check runs in the first campaign
                report = service.import_records(campaign.id, [*group, *night_here], actor="demo")
                if report.errors:
                    raise RuntimeError(f"demo borrowers refused by the importer: {report.to_dict()['errors']}")
                campaigns.append((campaign, trunk))
            ids = [c.id for c, _ in campaigns]
            print(f"Campaigns: {len(ids)} ({', '.join(f'{c.id} on trunk {t}' for c, t in campaigns)})", file=out)
            started = time.monotonic()
            for campaign_id in ids:
                service.start(campaign_id, actor="demo")
            display = ProgressDisplay(out, len(records), started)
            day_ids = {r["id"] for r in records}

            def in_flight() -> int:
                return sum(dialer.in_flight(c) for c in ids)

            while True:
                counts = merge_progress([store.progress(c) for c in ids])
                tried = [b for c in ids for b in store.list_borrowers(c) if b.attempts_total > 0]
                done = sum(1 for b in tried if b.borrower_id in day_ids)
                display.update(time.monotonic(), counts, in_flight(), done)
                if done >= len(records) and in_flight() == 0:
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
            for campaign_id in ids:
                if store.get_campaign(campaign_id).state != "finished":
                    service.stop(campaign_id, actor="demo")  # retries and callbacks are for another day
            app.scheduler.stop()
            await app.scheduler.wait_idle()
            calls = [store.get_call(c["call_id"]) for cid in ids for c in store.list_calls(cid, limit=1000, offset=0)]
            summary = summarize(calls, personas)
            counts = merge_progress([store.progress(c) for c in ids])
            label = f"Campaign {ids[0]}" if len(ids) == 1 else f"Campaigns {', '.join(ids)}"
            print(f"\n{label}: {len(calls)} calls in {elapsed:.0f} s\n", file=out)
            print(format_summary(summary), file=out)
            unstored = int(counts["attempts"]) - len(calls)
            if unstored > 0:
                print(f"WARNING: {unstored} attempt(s) left no stored call record "
                      f"(see campaign.attempt_failed in {self.run_dir / 'server.log'})", file=out)
            refused = counts.get("refusals_by_rule") or {}
            if refused:
                print("compliance refusals: " + ", ".join(f"{k} {v}" for k, v in refused.items()), file=out)
            held = self._report_night(store, ids[0], night_records, refused)
            if summary.recognizers:
                simulated = " (simulated transcripts sent by SIP INFO)" if "sim" in summary.recognizers else ""
                print(f"recognizer used: {', '.join(sorted(summary.recognizers))}{simulated}", file=out)
            workers = self._report_workers(pool, calls)
            print(f"\nstore:      {store.path}", file=out)
            print(f"recordings: {self.run_dir / 'recordings'} (stereo: bot left, borrower right)", file=out)
            phone_logs = sorted(self.run_dir.glob("sim-phone-*.jsonl"))
            print(f"logs:       {self.run_dir / 'server.log'} (coordinator and call workers), "
                  f"{self.run_dir / 'sim-phone-N.jsonl'} (sim phones 1-{len(phone_logs)})", file=out)
            extra: dict[str, Any] = {}
            if classifier is not None:
                from cli.demo_understood import count_understood, sim_lines_of

                understood = count_understood(calls, personas, sim_lines_of(phone_logs),
                                              lambda text: classifier.classify(text).intent)
                print(understood.describe(), file=out)
                extra["understood"] = understood.to_dict()
            summary_json = json.dumps(
                {"campaign": ids[0], "campaigns": ids, "seconds": round(elapsed, 1), "zone": choice.zone,
                 **summary.to_dict(), "workers": workers, **extra},
                ensure_ascii=False, indent=1)
            (self.run_dir / "summary.json").write_text(summary_json + "\n", encoding="utf-8")
            print(f"summary:    {self.run_dir / 'summary.json'}", file=out)
            if self.args.json:
                print(summary_json, file=out)
            reached = {c["borrower_id"] for c in calls}
            self.code = (0 if len(reached) >= len(records) and unstored <= 0 and held
                         and not workers["over_capacity"] else 1)
            if self.args.keep_serving:
                print(f"dashboard:  {dashboard} (token {token}) - serving until Ctrl-C", file=out, flush=True)
                await self._until_shutdown(reactor)
            else:
                print(f"dashboard:  {dashboard} was up during the run; to keep it up after the summary run "
                      "`make demo KEEP=1` (or `server.py demo --keep-serving`)", file=out)
        finally:
            if app is not None:
                await app.stop()  # drains and stops the call workers (their BYEs reach the sim phones)
                await deferLater(reactor, 0.5, lambda: None)
            log_file.close()

    def _report_workers(self, pool: Any, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Which worker process ran each call, and whether any placement went past a free slot."""
        watch = pool.watch
        by_pid: dict[int, int] = {}
        for call in calls:
            pid = watch.worker_of_attempt.get(str(call.get("attempt_id", "")))
            if pid is not None:
                by_pid[pid] = by_pid.get(pid, 0) + 1
        slots = pool.settings.total_slots
        spread = ", ".join(f"pid {pid}: {n}" for pid, n in sorted(by_pid.items()))
        print(f"call workers: {sum(by_pid.values())} calls ran in {len(by_pid)} worker processes ({spread}); "
              f"at most {watch.peak_in_use} of {slots} call slots in use at once, per phone at most "
              f"{max(watch.peak_by_trunk.values(), default=0)} of 4", file=self.out)
        for problem in watch.over_capacity:
            print(f"OVER CAPACITY: {problem}", file=self.out)
        return {**watch.to_dict(), "slots": slots, "calls_by_worker_pid": {str(k): v for k, v in by_pid.items()}}


def _strictest(strategies: Any, effective_window: Any) -> tuple[dt.time, dt.time]:
    windows = [effective_window(strategy, True) for strategy in strategies.strategies.values()]
    return strictest_window((w.start, w.end) for w in windows)


def _persona_for(phone: str, numbers: dict[str, str]) -> str:
    from sim.personas import number_spellings

    for spelling in number_spellings(phone.replace(" ", "").replace("-", "")):
        if spelling in numbers:
            return numbers[spelling]
    return "?"

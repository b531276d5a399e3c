"""How a replay is shown: per-turn text for the terminal, one HTML page for a batch."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from qa.diff import TurnDiff
from qa.jobs import ReplayReport
from session.record import TurnRecord


def _turn_line(t: TurnRecord) -> list[str]:
    heard = t.heard_text or {"opening": "(call answered)", "no_input": "(silence)"}.get(t.event, f"({t.event})")
    understood = f"{t.intent} ({t.confidence:.2f})" if t.intent and t.confidence is not None else (t.intent or "-")
    cut = f", cut after {t.prompt_frames_played}/{t.prompt_frames_total} frames" if t.interrupted else ""
    said = f"[{t.node}] {t.prompt_text}{cut}" if t.node or t.prompt_text else "(nothing)"
    return [f"  heard:      {heard}", f"  understood: {understood}", f"  said:       {said}"]


def _change_lines(d: TurnDiff) -> list[str]:
    if d.live is None:
        return ["  diff: only in the replay"]
    if d.replay is None:
        return ["  diff: only in the live call"]
    return [f"  diff: {c.field}: live {c.live!r} -> replay {c.replay!r}" for c in d.changes]


def render_text(report: ReplayReport) -> str:
    r = report.result
    lines = [f"replay of {report.job.recording} ({r.audio_s:.1f} s of audio, {r.speed:.0f}x real time)"]
    lines += [f"NOTE: {n}" for n in r.notes]
    lines.append(f"recognizer: {r.recognizer}; script set: {r.script_set}")
    diffs = {d.index: d for d in report.diff.turns} if report.diff else {}
    turns = sorted(r.turns, key=lambda t: t.index)
    for i, t in enumerate(turns):
        lines.append(f"turn {t.index} ({t.event})")
        lines += _turn_line(t)
        if i in diffs and not diffs[i].same:
            lines += _change_lines(diffs[i])
    for i, d in diffs.items():
        if i >= len(turns) and d.live is not None:
            lines.append(f"turn {d.live.index}: only in the live call")
            lines += _turn_line(d.live)
    outcome = r.outcome or {}
    lines.append(f"outcome: {outcome.get('disposition')} (end: {r.end_reason})")
    if report.diff is not None:
        for c in report.diff.outcome_changes:
            lines.append(f"  diff: outcome {c.field}: live {c.live!r} -> replay {c.replay!r}")
        lines.append("same as the live call" if report.diff.same else
                     f"differs from the live call in {report.diff.changed_turns} turn(s)"
                     + (" and the outcome" if report.diff.outcome_changes else ""))
    lines.append("compliance audit: " + ("passed" if report.audit.passed else "FAILED"))
    for f in report.audit.findings:
        where = f" (turn {f.turn})" if f.turn is not None else ""
        lines.append(f"  {'ok ' if f.passed else 'BAD'} {f.rule} {f.title}: {f.detail}{where}")
    return "\n".join(lines)


_CSS = """
body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.bad{color:#b00020;font-weight:bold}.ok{color:#2e7d32}.changed{background:#fff3cd}.note{color:#8a6d3b}
"""


def render_html(reports: Sequence[ReplayReport], title: str, errors: Sequence[str] = ()) -> str:
    e = html.escape
    same = sum(1 for r in reports if r.diff is not None and r.diff.same)
    compared = sum(1 for r in reports if r.diff is not None)
    failed = sum(1 for r in reports if not r.audit.passed)
    out = [
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{len(reports)} call(s) replayed at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"{same}/{compared} identical to the live call; "
        f"<span class='{'bad' if failed else 'ok'}'>{failed} failing the compliance audit</span>.</p>",
    ]
    notes = sorted({n for r in reports for n in r.result.notes})
    out += [f"<p class='note'>{e(n)}</p>" for n in notes]
    if errors:
        out.append("<h2>Not replayed</h2><ul>" + "".join(f"<li class='bad'>{e(x)}</li>" for x in errors) + "</ul>")
    out.append("<table><tr><th>call</th><th>outcome (live → replay)</th><th>turns</th><th>diff</th><th>audit</th></tr>")
    for i, r in enumerate(reports):
        live = (r.job.live.outcome or {}).get("disposition") if r.job.live else None
        now = (r.result.outcome or {}).get("disposition")
        diff = "-" if r.diff is None else ("same" if r.diff.same else f"{r.diff.changed_turns} turn(s) changed")
        audit = "passed" if r.audit.passed else ", ".join(f"{f.rule}" for f in r.audit.violations)
        name = r.job.live.call_id if r.job.live else r.job.recording.name
        out.append(
            f"<tr><td><a href='#c{i}'>{e(name)}</a></td><td>{e(str(live))} → {e(str(now))}</td>"
            f"<td>{len(r.result.turns)}</td><td class='{'' if diff in ('same', '-') else 'changed'}'>{e(diff)}</td>"
            f"<td class='{'ok' if r.audit.passed else 'bad'}'>{e(audit)}</td></tr>"
        )
    out.append("</table>")
    for i, r in enumerate(reports):
        name = r.job.live.call_id if r.job.live else r.job.recording.name
        out.append(f"<h2 id='c{i}'>{e(name)}</h2><p>{e(str(r.job.recording))}; recognizer {e(r.result.recognizer)}; "
                   f"script set {e(str(r.result.script_set))}; end: {e(r.result.end_reason)}</p>")
        diffs = {d.index: d for d in r.diff.turns} if r.diff else {}
        out.append("<table><tr><th>#</th><th>heard</th><th>understood</th><th>said</th><th>live differs</th></tr>")
        for j, t in enumerate(sorted(r.result.turns, key=lambda t: t.index)):
            d = diffs.get(j)
            changes = "" if d is None or d.same else "; ".join(
                f"{c.field}: {c.live!r}" for c in d.changes) or "only in replay"
            understood = f"{t.intent} ({t.confidence:.2f})" if t.intent and t.confidence is not None else "-"
            cut = f" <b>(cut at {t.prompt_frames_played}/{t.prompt_frames_total})</b>" if t.interrupted else ""
            out.append(
                f"<tr class='{'changed' if changes else ''}'><td>{t.index}</td><td>{e(t.heard_text or t.event)}</td>"
                f"<td>{e(understood)}</td><td>[{e(t.node)}] {e(t.prompt_text)}{cut}</td><td>{e(changes)}</td></tr>"
            )
        out.append("</table><ul>")
        for f in r.audit.findings:
            out.append(f"<li class='{'ok' if f.passed else 'bad'}'>{e(f.rule)} {e(f.title)}: {e(f.detail)}</li>")
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)

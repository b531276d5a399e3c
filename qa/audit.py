"""Compliance audit of one call record (COMPLIANCE C1, C4-C8): what the bot said, in which order.

The audit reads only the call record, so it judges live calls and replays alike. It never trusts
the script linter's verdict: it looks at what was actually played, turn by turn.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from config.toml_reader import Table, load_toml
from session.record import CallRecord, TurnRecord

DEFAULT_RULES = Path(__file__).resolve().parent / "data" / "audit.toml"


@dataclass(frozen=True)
class AuditRules:
    company_phrases: tuple[str, ...]
    company_variables: tuple[str, ...]
    purpose_phrases: tuple[str, ...]
    require_purpose: bool  # always True: C4 cannot be switched off (kept so old rules files still load)
    recording_phrases: tuple[str, ...]
    debt_variables: tuple[str, ...]
    identity_intents: tuple[str, ...]
    window_start: dt.time
    window_end: dt.time
    forbidden_phrases: tuple[str, ...]
    opt_out_intents: tuple[str, ...]
    max_prompts_after_opt_out: int


HARD_WINDOW = (dt.time(8, 0), dt.time(22, 0))


def load_rules(path: Path | str = DEFAULT_RULES) -> AuditRules:
    root = load_toml(path)
    root.reject_unknown(["identify", "recording", "debt", "window", "forbidden", "opt_out"])
    ident = root.table("identify", required=True)
    ident.reject_unknown(["company_phrases", "company_variables", "purpose_phrases", "require_purpose"])
    rec = root.table("recording", required=True)
    rec.reject_unknown(["phrases"])
    debt = root.table("debt", required=True)
    debt.reject_unknown(["variables", "identity_intents"])
    window = root.table("window")
    window.reject_unknown(["start", "end"])
    forbidden = root.table("forbidden", required=True)
    forbidden.reject_unknown(["phrases"])
    opt = root.table("opt_out")
    opt.reject_unknown(["intents", "max_prompts_after"])
    if not ident.boolean("require_purpose", True):
        raise ident.error("require_purpose", "true or no key: COMPLIANCE C4 (company and purpose at the start of "
                          "every call) cannot be switched off", False)
    start = _clock(window, "start", "08:00")
    end = _clock(window, "end", "22:00")
    legal = "a time inside 08:00-22:00 (COMPLIANCE C1 can only be made stricter)"
    if start < HARD_WINDOW[0]:
        raise window.error("start", legal, f"{start:%H:%M}")
    if end > HARD_WINDOW[1] or end <= start:
        raise window.error("end", legal + " and after start", f"{end:%H:%M}")
    return AuditRules(
        company_phrases=_nonempty(ident, "company_phrases"),
        company_variables=ident.strings("company_variables", ()),
        purpose_phrases=_nonempty(ident, "purpose_phrases"),
        require_purpose=True,
        recording_phrases=_nonempty(rec, "phrases"),
        debt_variables=_nonempty(debt, "variables"),
        identity_intents=debt.strings("identity_intents", ("affirm",)),
        window_start=start,
        window_end=end,
        forbidden_phrases=_nonempty(forbidden, "phrases"),
        opt_out_intents=opt.strings("intents", ("stop_calling",)),
        max_prompts_after_opt_out=opt.integer("max_prompts_after", 1, min=0, max=3),
    )


def _nonempty(t: Table, key: str) -> tuple[str, ...]:
    values: tuple[str, ...] = t.strings(key)
    if not values or any(not v for v in values):
        raise t.error(key, "a non-empty list of non-empty strings", values)
    return values


def _clock(t: Table, key: str, default: str) -> dt.time:
    text = t.string(key, default)
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise t.error(key, "a time of day such as '08:00'", text) from None


@dataclass(frozen=True)
class Finding:
    rule: str  # C1, C4, ...
    title: str
    passed: bool
    detail: str
    turn: int | None = None  # the turn that broke the rule


@dataclass(frozen=True)
class AuditReport:
    call_id: str
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.passed)


def _played(turn: TurnRecord) -> bool:
    return bool(turn.prompt_text) and (turn.prompt_frames_played > 0 or turn.prompt_frames_total == 0)


def _variables(turn: TurnRecord) -> set[str]:
    return {p[1:] for p in turn.prompt_parts if p.startswith("$")}


def audit_call(record: CallRecord, rules: AuditRules, timezone: str = "Asia/Shanghai") -> AuditReport:
    """Check one answered call; unanswered calls only get the time-window check."""
    findings = [_window(record, rules, timezone)]
    if record.answered_at is not None and record.turns:
        spoken = [t for t in sorted(record.turns, key=lambda t: t.index) if _played(t)]
        findings += [
            _identify(spoken, rules),
            _recording(spoken, rules),
            _debt_after_identity(spoken, record, rules),
            _forbidden(spoken, rules),
            _opt_out(record, rules),
        ]
    return AuditReport(record.call_id, tuple(findings))


def _window(record: CallRecord, rules: AuditRules, timezone: str) -> Finding:
    title = "call inside the permitted window"
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return Finding("C1", title, False, f"unknown time zone {timezone!r}: cannot prove the call was allowed")
    at = record.answered_at if record.answered_at is not None else record.invite_sent_at
    local = dt.datetime.fromtimestamp(at, zone)
    ok = rules.window_start <= local.time() < rules.window_end
    span = f"{rules.window_start:%H:%M}-{rules.window_end:%H:%M}"
    return Finding("C1", title, ok, f"local time {local:%Y-%m-%d %H:%M} ({timezone}), window {span}")


def _identify(spoken: list[TurnRecord], rules: AuditRules) -> Finding:
    title = "creditor and purpose stated at the start"
    if not spoken:
        return Finding("C4", title, False, "the bot said nothing")
    first = spoken[0]
    company = any(p in first.prompt_text for p in rules.company_phrases) or bool(
        _variables(first) & set(rules.company_variables)
    )
    purpose = any(p in first.prompt_text for p in rules.purpose_phrases)
    missing = [name for name, ok in (("creditor", company), ("purpose", purpose)) if not ok]
    detail = ("first prompt names the creditor and the purpose" if not missing
              else "first prompt names no " + " or ".join(missing))
    return Finding("C4", title, not missing, detail, None if not missing else first.index)


def _recording(spoken: list[TurnRecord], rules: AuditRules) -> Finding:
    title = "recording announced at the start"
    if not spoken:
        return Finding("C5", title, False, "the bot said nothing")
    first = spoken[0]
    if any(p in first.prompt_text for p in rules.recording_phrases):
        return Finding("C5", title, True, f"announced in the first prompt (turn {first.index})")
    return Finding("C5", title, False, "the first prompt has no recording notice", first.index)


def _debt_after_identity(spoken: list[TurnRecord], record: CallRecord, rules: AuditRules) -> Finding:
    title = "no debt detail before identity confirmation"
    debt = set(rules.debt_variables)
    confirmed = False
    for turn in sorted(record.turns, key=lambda t: t.index):
        if turn.identity_confirmed is not None:
            confirmed = turn.identity_confirmed
        elif turn.intent in rules.identity_intents:
            confirmed = True
        if turn in spoken and _variables(turn) & debt and not confirmed:
            named = ", ".join(sorted(_variables(turn) & debt))
            return Finding("C6", title, False, f"played {named} to an unconfirmed listener", turn.index)
    return Finding("C6", title, True, "debt details only after confirmation" if confirmed else "no debt detail played")


def _forbidden(spoken: list[TurnRecord], rules: AuditRules) -> Finding:
    title = "no forbidden phrasing"
    for turn in spoken:
        hits = [p for p in rules.forbidden_phrases if p in turn.prompt_text]
        if hits:
            return Finding("C8", title, False, "forbidden phrasing: " + ", ".join(hits), turn.index)
    return Finding("C8", title, True, f"{len(spoken)} prompts checked")


def _opt_out(record: CallRecord, rules: AuditRules) -> Finding:
    title = "opt-out honoured"
    turns = sorted(record.turns, key=lambda t: t.index)
    asked = next((t for t in turns if t.intent in rules.opt_out_intents), None)
    if asked is None:
        return Finding("C7", title, True, "no stop-calling request")
    recorded = bool((record.outcome or {}).get("opt_out"))
    after = [t for t in turns if t.index > asked.index and _played(t)]
    prompts_after = (1 if _played(asked) else 0) + len(after)
    problems = []
    if not recorded:
        problems.append("outcome does not record the opt-out")
    if prompts_after > rules.max_prompts_after_opt_out:
        problems.append(f"bot kept talking for {prompts_after} prompts after the request")
    if record.hangup_by == "remote" and after:
        problems.append("bot did not end the call")
    if problems:
        return Finding("C7", title, False, "; ".join(problems), asked.index)
    return Finding("C7", title, True, f"requested in turn {asked.index}, recorded, call ended")

"""One call's conversation as a deterministic state machine over the script graph.

The session feeds it what the borrower did (`on_utterance`, `on_no_input`, `on_dtmf`, `on_hangup`) and
gets back one Action. Compliance lives here and in `dialogue.render`, not in script text: the opening
must name the creditor and announce recording (C4/C5), debt details are refused before identity
(C6), stop-calling always sets opt-out (C7), complaints are always flagged (C9) and "are you a
robot?" must be answered with an AI disclosure (C12). Termination is structural: every borrower
turn counts against the turn cap, every silence against the no-input cap, and no question (a node
that waits) or ending is entered more than `max_node_visits` times; side statements that lead back to
a question (the C12 answer, "I'll say it again") are always said.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from config.dialogue_config import DialogueConfig
from dialogue.borrower import Borrower
from dialogue.outcome import PRECEDENCE, Outcome
from dialogue.prompt import Fragment, Prompt, Variable
from dialogue.render import ComplianceRefused, PromptValueMissing, guard_disclosure, render_node
from dialogue.scripts import PROTECTED_INTENTS, Node, ScriptLibrary, ScriptSet
from dialogue.segments import Segment, segment_for
from telemetry.logging import log_event

log = logging.getLogger("dialogue.manager")

NO_MATCH_INTENT = "other"
# A yes that repeats the terms just read back ("yes, Friday next week, 3000") confirms them.
CONFIRMING_INTENTS = frozenset({"affirm", "promise_to_pay"})
PROMISE_SLOTS = ("ptp_date", "ptp_amount")
# A date or amount said with these is a reason or a refusal, not a promise ("can't pay today").
NOT_A_PROMISE = frozenset({
    "deny", "refuse_to_pay", "wrong_number", "third_party", "dispute", "complaint", "stop_calling", "busy",
    "already_paid", "ask_amount", "ask_caller", "ask_payment_method", "repeat", "request_agent",
})
# What a reply tells us even if the call ends before the script does (the outcome keeps it).
INTENT_FACTS = {
    "already_paid": "already_paid", "hardship": "hardship", "negotiate": "negotiation", "refuse_to_pay": "refused",
    "busy": "callback", "third_party": "third_party", "wrong_number": "wrong_number",
}
_MAX_CHAIN = 16  # nodes walked for one action; only a cyclic then/route chain (a script bug) gets near it


class IntentLike(Protocol):
    @property
    def intent(self) -> str: ...
    @property
    def confidence(self) -> float: ...


class IntentSource(Protocol):
    """What the manager needs from a classifier; tests pass a deterministic fake."""

    def classify(self, text: str) -> IntentLike: ...


class SlotsLike(Protocol):
    @property
    def date(self) -> dt.date | None: ...
    @property
    def amount(self) -> float | None: ...


SlotExtractor = Callable[[str, dt.date], SlotsLike]


@dataclass(frozen=True)
class PlayPrompt:
    """Say this, then listen. `intent`/`confidence`: what the manager reacted to (None for the opening)."""

    prompt: Prompt
    intent: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Hangup:
    """Say `prompt` (if any) without waiting for an answer, then hang up."""

    outcome: Outcome
    prompt: Prompt | None = None
    intent: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Transfer:
    """Say `prompt` (if any), then transfer the call to a human agent."""

    outcome: Outcome
    prompt: Prompt | None = None
    intent: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Wait:
    """Nothing to say (noise, an unmapped key, or the call already ended): keep listening."""

    intent: str | None = None
    confidence: float | None = None


Action = PlayPrompt | Hangup | Transfer | Wait


class DialogueManager:
    def __init__(
        self,
        library: ScriptLibrary,
        classifier: IntentSource,
        today: dt.date,
        *,
        script_set: str | None = None,
        segments: tuple[Segment, ...] | None = None,
        config: DialogueConfig | None = None,
        slot_extractor: SlotExtractor | None = None,
        agent_available: bool = False,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if script_set is None and segments is None:
            raise ValueError("give a script_set id or the segments that choose one per borrower")
        if script_set is not None and script_set not in library.script_sets:
            raise ValueError(f"unknown script set {script_set!r}")
        self.library = library
        self.classifier = classifier
        self.today = today
        self.config = config or DialogueConfig()
        # C9: without a reachable human agent no prompt may say "transferring"; transfer nodes go to
        # their `unavailable` target (a callback by a person) instead.
        self.agent_available = agent_available
        self._forced_set = script_set
        self._segments = segments
        if slot_extractor is None:
            from dialogue.slots import extract_slots

            parts_of_day = self.config.parts_of_day

            def slot_extractor(text: str, today: dt.date) -> SlotsLike:
                return extract_slots(text, today, parts_of_day)
        self._extract: SlotExtractor = slot_extractor
        # Local wall time of the borrower, for "in an hour"; the session passes the borrower's zone.
        self._now = now or (lambda: dt.datetime.combine(self.today, dt.datetime.now().time()))
        self.borrower: Borrower | None = None
        self.script_set: ScriptSet | None = None
        self.segment: Segment | None = None
        self.identity_confirmed = False
        self.flags: set[str] = set()
        self.slots: dict[str, object] = {}
        self.mark: str | None = None
        self.facts: set[str] = set()  # dispositions the borrower's words support (see dialogue.outcome.PRECEDENCE)
        self.promise_stated = False  # a date/amount came from the borrower, or a yes to a promise question
        self.turns = 0
        self.no_inputs = 0
        self.outcome: Outcome | None = None
        self._waiting: Node | None = None
        self._return_to: Node | None = None
        self.path: list[str] = []  # every node entered, in order (decision nodes included)
        self._visits: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._amount_said = False  # ptp_amount came from the borrower's words (not copied from the amount due)
        self.transfer_failed = False
        self.mediation_consent: bool | None = None  # the last answer to a mediation notice (issue 13)

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    @property
    def node(self) -> str | None:
        """The node the bot is listening at (None before start and after the end)."""
        return None if self._waiting is None or self.ended else self._waiting.key

    # --- events from the call -----------------------------------------------------------------

    def start(self, borrower: Borrower) -> Action:
        if self.borrower is not None:
            raise RuntimeError("start() was already called for this conversation")
        self.borrower = borrower
        if self._forced_set is not None:
            set_id = self._forced_set
        else:
            assert self._segments is not None
            self.segment = segment_for(borrower, self._segments)
            set_id = self.segment.script_set
        self.script_set = self.library.script_sets[set_id]
        log_event(log, "dialogue.started", borrower_id=borrower.id, script_set=set_id,
                  segment=self.segment.name if self.segment else None)
        action = self._go(self.script_set.start, None, None, None)
        prompt = action.prompt if isinstance(action, PlayPrompt | Hangup | Transfer) else None
        missing = self._opening_lacks(prompt)
        if missing:
            # Refuse to talk at all: even an apology would be an unidentified call (C4).
            log_event(log, "dialogue.compliance_refused", logging.WARNING, rule="C4/C5",
                      reason=f"opening lacks {missing}")
            return Hangup(self.outcome or self._finish("callback"))
        return action

    def on_utterance(self, text: str, confidence: float = 1.0) -> Action:
        if self.ended or self._waiting is None:
            return Wait()
        text = text.strip()
        if not text:
            return Wait()
        self.turns += 1
        result = self.classifier.classify(text)
        intent, score = result.intent, float(result.confidence)
        if score < self.config.min_intent_confidence or confidence < self.config.min_asr_confidence:
            intent = NO_MATCH_INTENT
        node = self._waiting
        self._apply_compliance_flags(intent)
        if intent in INTENT_FACTS:
            self.facts.add(INTENT_FACTS[intent])
        read_back = {name: self.slots.get(name) for name in node.capture}
        # The borrower's promise states its own terms wherever it is said ("I'll pay 3000 the day after
        # tomorrow"); before identity it is no one's promise yet.
        global_promise = intent == "promise_to_pay" and self.identity_confirmed
        capture = (*node.capture, *PROMISE_SLOTS) if global_promise else node.capture
        if intent == "busy":  # "call me back tomorrow afternoon": the time, so the bot need not ask for it
            capture = ("callback_at",)
        filled = self._capture(capture, text) if capture else False
        if filled and intent not in NOT_A_PROMISE and any(s in capture for s in PROMISE_SLOTS):
            self.promise_stated = True
        target, via_global = self.library.handler_for(intent, node, self._set)
        if (filled and node.filled is not None and intent not in PROTECTED_INTENTS
                and not self._confirms_read_back(node, intent, read_back)):
            target, via_global = node.filled, False
        if target is None and intent == NO_MATCH_INTENT and self._vague(text):
            action = self._go(node.no_match or "@no_match", node, intent, score)  # understood, just undecided
        elif target is None:
            action = self._retry_or(node, node.no_match or "@no_match", "reprompt", intent, score)
        else:
            if via_global:
                self._return_to = node
            action = self._go(target, None if via_global else node, intent, score)
        if intent == "ask_caller" and not self._discloses_ai(action):
            log_event(log, "dialogue.compliance_refused", logging.WARNING, rule="C12", node=node.key,
                      reason="the answer to ask_caller lacks an AI disclosure")
            return self._close("refusal_close", [], intent, score, "callback")
        return self._cap_turns(action)

    def on_no_input(self) -> Action:
        if self.ended or self._waiting is None:
            return Wait()
        self.no_inputs += 1
        if self.no_inputs >= self.config.max_no_input:
            return self._close("loop_close", [], None, None, "no_response" if self.turns == 0 else "auto")
        node = self._waiting
        return self._retry_or(node, node.no_input or "@no_input", "no_input", None, None)

    def on_dtmf(self, digit: str) -> Action:
        if self.ended or self._waiting is None:
            return Wait()
        node = self._waiting
        target = node.dtmf.get(digit)
        via_global = False
        if target is None and digit in ("0", "*"):
            target, via_global = self.library.handler_for(
                "request_agent" if digit == "0" else "repeat", node, self._set
            )
        if target is None:
            return Wait()
        self.turns += 1
        if via_global:
            self._return_to = node
        return self._cap_turns(self._go(target, None if via_global else node, None, None))

    def on_hangup(self) -> Outcome:
        """The call ended before the dialogue did (hang-up, max duration, an error).

        The outcome keeps the strongest fact learned (a stated promise, unconfirmed; a payment claim,
        unverified; ...); `hung_up` only when the borrower said nothing that counts.
        """
        if self.outcome is None:
            self._finish("hung_up", completed=False)
        assert self.outcome is not None
        return self.outcome

    def on_transfer_failed(self, reason: str) -> Outcome:
        """The transfer to an agent did not happen (REFER failed, no agent URI): never store `transferred`.

        The borrower asked for a person, so the outcome asks for a callback by one; the disposition is
        the strongest fact learned (a complaint stays a complaint), else `callback`.
        """
        self.transfer_failed = True
        self.flags.add("callback_requested")
        log_event(log, "dialogue.transfer_failed", logging.WARNING, reason=reason)
        if self.outcome is None or self.outcome.disposition == "transferred":
            self.outcome = None
            self._finish(self.strongest_fact() or "callback")
        assert self.outcome is not None
        return self.outcome

    # --- walking the graph --------------------------------------------------------------------

    @property
    def _set(self) -> ScriptSet:
        assert self.script_set is not None, "start() first"
        return self.script_set

    def _resolve(self, target: str, here: Node | None) -> str:
        key = self.library.resolve(target, here, self._set)
        if key is not None:
            return key
        if self._return_to is not None:
            return self._return_to.key
        return self._resolve("@close", None)

    def _go(self, target: str, here: Node | None, intent: str | None, score: float | None,
            prefix: tuple[Fragment | Variable, ...] = ()) -> Action:
        parts: list[Fragment | Variable] = list(prefix)
        interruptible = True
        key = self._resolve(target, here)
        try:
            for _ in range(_MAX_CHAIN):
                node = self.library.node(key)
                if node.transfer and not self.agent_available:
                    log_event(log, "dialogue.no_agent", node=key)
                    self.flags.add("callback_requested")
                    if node.unavailable is None:  # the linter rejects this; never pretend to transfer
                        return self._close("loop_close", parts, intent, score)
                    target, here = node.unavailable, node
                    key = self._resolve(target, here)
                    continue
                returning = target == "@return" and node is self._return_to
                if parts and returning and self._visits[key] >= self.config.max_node_visits:
                    # Back from a side question to a question already asked twice: listen, do not ask again.
                    self._waiting = node
                    return PlayPrompt(Prompt(tuple(parts), node.key, interruptible), intent, score)
                if node.waits or node.is_terminal:  # questions and endings; side statements (`then`) are free
                    if self._visits[key] >= self.config.max_node_visits:
                        log_event(log, "dialogue.loop_closed", node=key)
                        return self._close("loop_close", [], intent, score)
                    self._visits[key] += 1
                self._enter(node)
                if node.is_decision:
                    target, here = self._route(node), node
                    key = self._resolve(target, here)
                    continue
                reasking = self._visits[key] > 1 and node.reask and target != "@again"
                parts.extend(render_node(self.library, self._set, node, self.borrower, self.today,
                                         self.identity_confirmed, self.slots, node.reask if reasking else None))
                interruptible = interruptible and node.interruptible
                if node.then is not None:
                    target, here = node.then, node
                    key = self._resolve(target, here)
                    continue
                prompt = Prompt(tuple(parts), node.key, interruptible)
                if node.transfer:
                    return Transfer(self._finish("transferred"), prompt, intent, score)
                if node.end is not None:
                    return Hangup(self._finish(node.end), prompt, intent, score)
                self._waiting = node
                return PlayPrompt(prompt, intent, score)
        except (ComplianceRefused, PromptValueMissing) as exc:
            log_event(log, "dialogue.prompt_refused", logging.WARNING, node=key, reason=str(exc))
            return self._close("refusal_close", [], intent, score, "callback")
        log_event(log, "dialogue.chain_too_long", logging.WARNING, node=key)
        return self._close("loop_close", [], intent, score)

    def _enter(self, node: Node) -> None:
        self.path.append(node.key)
        if node.confirms_identity and not self.identity_confirmed:
            self.identity_confirmed = True
            log_event(log, "dialogue.identity_confirmed", node=node.key)
        self.flags.update(node.flags)
        if "mediation_consent" in node.flags:
            self.mediation_consent = True
        if "mediation_declined" in node.flags:
            self.mediation_consent = False
        if node.mark is not None:
            self.mark = node.mark
            if node.mark != "auto":
                self.facts.add(node.mark)
            if node.mark == "promise_to_pay":
                self.promise_stated = True  # only borrower replies lead into a promise scene
        assert self.borrower is not None
        sources: dict[str, object] = {
            "amount": self.borrower.amount_due, "due_date": self.borrower.due_date, "today": self.today,
        }
        for slot, source in node.fill.items():
            if self.slots.get(slot) is None:
                self.slots[slot] = sources[source]

    def _vague(self, text: str) -> bool:
        return any(phrase in text for phrase in self.library.vague_phrases)

    def _known(self, name: str) -> bool:
        if name == "pursued":
            return "pursuit" in self.flags
        return self.slots.get(name) is not None

    def _route(self, node: Node) -> str:
        for route in node.routes:
            if (all(self._known(s) for s in route.have)
                    and not any(self._known(s) for s in route.missing)
                    and (route.identity is None or route.identity == self.identity_confirmed)
                    and (route.agent is None or route.agent == self.agent_available)):
                return route.go
        assert node.otherwise is not None
        return node.otherwise

    def _retry_or(self, node: Node, fallback: str, role: str, intent: str | None, score: float | None) -> Action:
        """Re-ask once (with an apology or 'are you there?') if the node allows, else take `fallback`."""
        if self._retries[node.key] < node.retries:
            self._retries[node.key] += 1
            prefix = (self.library.fragment(self.library.engine_fragments[role], self._set),)
            return self._go(node.key, node, intent, score, prefix)
        return self._go(fallback, node, intent, score)

    def _capture(self, capture: tuple[str, ...], text: str) -> bool:
        """Store dates/amounts the node listens for; True if the reply filled any of them."""
        slots = self._extract(text, self.today)
        filled = False
        if slots.date is not None and "ptp_date" in capture:
            self.slots["ptp_date"] = slots.date
            filled = True
        elif "callback_at" in capture:
            moment = self._callback_moment(slots)
            if moment is not None:
                self.slots["callback_at"] = moment
                filled = True
        if slots.amount is not None and "ptp_amount" in capture:
            self.slots["ptp_amount"] = float(slots.amount)
            self._amount_said = True
            filled = True
        return filled

    def _callback_moment(self, slots: SlotsLike) -> dt.date | dt.datetime | None:
        """The callback the borrower asked for, as a local day or date-time moved into the call window.

        A time outside the window (22:00, or "in an hour" at 20:30) becomes the next moment the window
        is open, and `callback_moved` lets the read-back say so: the borrower hears the real time.
        """
        now = self._now()
        self.slots.pop("callback_moved", None)
        minutes = getattr(slots, "in_minutes", None)
        clock = getattr(slots, "time", None)
        if minutes is not None:
            moment = now + dt.timedelta(minutes=int(minutes))
        elif clock is not None:
            moment = dt.datetime.combine(slots.date or now.date(), dt.time.fromisoformat(str(clock)))
            if slots.date is None and moment < now:
                moment += dt.timedelta(days=1)
        else:
            return slots.date  # a day: the campaign calls when its window opens that day
        start, end = self.config.callback_window
        moved = moment
        if moved < now:
            moved = now
        if moved.time() < start:
            moved = dt.datetime.combine(moved.date(), start)
        elif moved.time() >= end:
            moved = dt.datetime.combine(moved.date() + dt.timedelta(days=1), start)
        moved = moved.replace(second=0, microsecond=0)
        if moved != moment.replace(second=0, microsecond=0):
            self.slots["callback_moved"] = True
        return moved

    def _confirms_read_back(self, node: Node, intent: str, read_back: dict[str, object]) -> bool:
        """A yes whose dates/amounts equal what this node just read back is the confirmation itself.

        Only for a read-back (a node whose prompt says a slot it captures): new values there are
        stored and read back once more, but repeating the same terms must not make the bot ask again.
        """
        if intent not in CONFIRMING_INTENTS or node.filled is None:
            return False
        if not any(f"{{{name}}}" in node.prompt for name in node.capture):
            return False
        return all(_same_value(self.slots.get(name), value) for name, value in read_back.items())

    def _cap_turns(self, action: Action) -> Action:
        if isinstance(action, PlayPrompt) and self.turns >= self.config.max_turns:
            log_event(log, "dialogue.turn_cap", turns=self.turns)
            return self._close("turn_cap_close", [], action.intent, action.confidence)
        return action

    def _close(self, role: str, parts: list[Fragment | Variable], intent: str | None, score: float | None,
               disposition: str = "auto") -> Hangup:
        closing = [*parts, self.library.fragment(self.library.engine_fragments[role], self._set)]
        outcome = self.outcome or self._finish(disposition)
        if not self.identity_confirmed:
            try:
                guard_disclosure(closing, self.library.compliance.debt_words, f"engine/{role}")
            except ComplianceRefused:
                return Hangup(outcome, None, intent, score)
        return Hangup(outcome, Prompt(tuple(closing), f"engine/{role}", True), intent, score)

    def strongest_fact(self) -> str | None:
        """The first disposition in `PRECEDENCE` the conversation so far supports (None: nothing learned)."""
        learned = set(self.facts)
        if "opt_out" in self.flags:
            learned.add("opt_out")
        if "complaint" in self.flags:
            learned.add("complaint")
        if "ptp_confirmed" in self.flags or (self.promise_stated and self._promise_terms()[0:2] != (None, None)):
            learned.add("promise_to_pay")
        if self.slots.get("callback_at") is not None or "callback_requested" in self.flags:
            learned.add("callback")
        return next((d for d in PRECEDENCE if d in learned), None)

    def _promise_terms(self) -> tuple[dt.date | None, float | None, bool]:
        """(date, amount, full amount): a date without an amount means the amount due."""
        date = _as_date(self.slots.get("ptp_date"))
        amount = _as_float(self.slots.get("ptp_amount"))
        full = not self._amount_said and amount is not None
        if date is not None and amount is None and self.borrower is not None:
            amount, full = float(self.borrower.amount_due), True
        return date, amount, full

    def _finish(self, disposition: str, *, completed: bool = True) -> Outcome:
        """`auto` (the bot closed without a firm end) and `hung_up` (cut short) take the strongest fact."""
        strongest = self.strongest_fact()
        if disposition == "auto":
            if "ptp_confirmed" in self.flags and strongest not in ("opt_out", "complaint"):
                disposition = "promise_to_pay"
            else:
                disposition = strongest or ("no_response" if self.turns == 0 else "callback")
        elif disposition == "hung_up":
            disposition = strongest or "hung_up"
        promised = self.promise_stated or "ptp_confirmed" in self.flags or disposition == "promise_to_pay"
        ptp_date, ptp_amount, full = self._promise_terms() if promised else (None, None, False)
        facts = self.facts | {disposition}
        opt_out = "opt_out" in self.flags or "opt_out" in facts
        consent = False if opt_out and self.mediation_consent else self.mediation_consent
        outcome = Outcome(
            disposition=disposition,
            ptp_date=ptp_date,
            ptp_amount=ptp_amount,
            callback_at=_as_date(self.slots.get("callback_at")),
            opt_out=opt_out,
            complaint="complaint" in self.flags or "complaint" in facts,
            identity_confirmed=self.identity_confirmed,
            turns=self.turns,
            confirmed="ptp_confirmed" in self.flags,
            ptp_full_amount=full,
            already_paid="already_paid" in facts,
            verified=False,
            hardship="hardship" in facts,
            negotiation="negotiation" in facts,
            refused="refused" in facts,
            dispute="dispute" in facts,
            third_party="third_party" in facts,
            wrong_number="wrong_number" in facts,
            callback_requested=("callback" in facts or "callback_requested" in self.flags
                                or self.slots.get("callback_at") is not None),
            transfer_failed=self.transfer_failed,
            completed=completed,
            mediation_consent=consent,
        )
        self.outcome = outcome
        self._waiting = None
        log_event(log, "dialogue.ended", disposition=outcome.disposition, turns=outcome.turns,
                  identity_confirmed=outcome.identity_confirmed, opt_out=outcome.opt_out,
                  completed=completed)
        return outcome

    # --- compliance checks the engine makes whatever the script says ----------------------------

    def _apply_compliance_flags(self, intent: str) -> None:
        if intent == "stop_calling" and "opt_out" not in self.flags:
            self.flags.add("opt_out")  # C7
            log_event(log, "dialogue.opt_out", node=self.node)
        if intent == "complaint" and "complaint" not in self.flags:
            self.flags.add("complaint")  # C9
            log_event(log, "dialogue.complaint", node=self.node)

    def _opening_lacks(self, prompt: Prompt | None) -> str:
        """C4/C5: what the first prompt fails to say ('' when it names the creditor, the purpose and the recording)."""
        notice = self.library.compliance.recording_notice
        names = prompt is not None and any(
            isinstance(p, Variable) and p.name in ("creditor", "company") for p in prompt.parts
        )
        if prompt is None or not names:
            return "the creditor's name"
        if not any(phrase in prompt.text for phrase in self.library.compliance.purpose):
            return "the purpose of the call (one of compliance.toml purpose)"
        if notice not in prompt.text:
            return f"the recording notice {notice!r}"
        return ""

    def _discloses_ai(self, action: Action) -> bool:
        """C12: the answer to 'are you a robot?' contains an AI disclosure phrase from the compliance list."""
        prompt = action.prompt if isinstance(action, PlayPrompt | Hangup | Transfer) else None
        return prompt is not None and any(p in prompt.text for p in self.library.compliance.ai_disclosure)


def _same_value(now: object, before: object) -> bool:
    if isinstance(now, int | float) and isinstance(before, int | float):
        return float(now) == float(before)
    return now == before


def _as_date(value: object) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


def _as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


__all__ = ["Action", "DialogueManager", "Hangup", "IntentSource", "PlayPrompt", "Transfer", "Wait"]

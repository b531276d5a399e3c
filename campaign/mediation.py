"""Mediation notice calls (issue 13): which cases a mediation-notice strategy may dial, and when it stops.

The allocation gate refuses every case allocated away from `bot` (campaign.allocation_store). A strategy
with `mediation_notice_script_set` is the one exception, and only the other way round: it dials nothing
but cases allocated to `legal` whose allocation step is `mediation`, so a collection case never hears a
mediation notice and a legal case never hears a collection script. Once the borrower has answered the
consent question (`mediation_consent` true or false), the notice was given: the borrower is stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.allocation_store import RECHECK_SECONDS
from campaign.model import Refusal
from config.campaign_config import Strategy

RULE_NOT_IN_MEDIATION = "NOT_IN_MEDIATION"  # a mediation-notice strategy met a case not in mediation
STOP_NOTIFIED = "mediation_notified"  # follow-up stop reason once the consent question was answered


def is_notice_strategy(strategy: Strategy) -> bool:
    return strategy.mediation_notice_script_set is not None


def notice_refusal(allocated: tuple[str, str] | None, step: str | None, now: float) -> Refusal | None:
    """None when the case is in `legal` at step `mediation`; else why a mediation notice may not be sent."""
    if allocated is None:
        return Refusal(RULE_NOT_IN_MEDIATION, "the case was never allocated; a mediation notice needs legal/mediation",
                       retry_at=now + RECHECK_SECONDS)
    channel, rule = allocated
    if channel != "legal" or step != "mediation":
        where = channel if channel != "legal" else f"legal step {step}"
        return Refusal(RULE_NOT_IN_MEDIATION, f"the case is allocated to {where} (rule {rule}), not to mediation",
                       retry_at=now + RECHECK_SECONDS)
    return None


def notice_given(strategy: Strategy, outcome: Mapping[str, Any]) -> bool:
    """A mediation-notice call whose borrower answered the consent question: no more notice calls."""
    return is_notice_strategy(strategy) and outcome.get("mediation_consent") is not None


__all__ = ["RULE_NOT_IN_MEDIATION", "STOP_NOTIFIED", "is_notice_strategy", "notice_given", "notice_refusal"]

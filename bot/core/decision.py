"""A whole rollback decision: criteria evaluated, severity, the proportionate path, approvers.

This is what ``releasebot evaluate`` prints and what the bot acts on when samples arrive. It is
computed, never performed: the caller decides what to post and store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.criteria import (
    CriterionEvaluation,
    CriterionState,
    Sample,
    evaluate_all,
    overall_severity,
)
from bot.core.durations import format_duration
from bot.core.impact import PathRecord, Recommendation, recommend
from bot.core.runbook import SEVERITY_ORDER, Runbook, Severity


@dataclass(frozen=True)
class Cooldown:
    """After a rollback the bot stays quiet until ``until``, so it never flaps."""

    since: datetime
    until: datetime

    def active(self, now: datetime) -> bool:
        return self.since <= now < self.until


def cooldown_after(rollback_at: datetime, runbook: Runbook) -> Cooldown:
    return Cooldown(since=rollback_at, until=rollback_at + runbook.cooldown)


@dataclass(frozen=True)
class Decision:
    runbook_id: str
    runbook_version: int
    now: datetime
    criteria: tuple[CriterionEvaluation, ...]
    severity: Severity | None
    recommendation: Recommendation | None
    cooldown: Cooldown | None  # set when a breach is held back by an active cooldown

    @property
    def breached(self) -> tuple[CriterionEvaluation, ...]:
        return tuple(e for e in self.criteria if e.state is CriterionState.BREACH)

    @property
    def insufficient(self) -> tuple[CriterionEvaluation, ...]:
        return tuple(e for e in self.criteria if e.state is CriterionState.INSUFFICIENT_DATA)

    def summary(self) -> str:
        """One line for a person: what the bot would do now."""
        if self.recommendation is not None:
            return f"breach at severity {self.severity}: recommend {self.recommendation.path.id}"
        if self.cooldown is not None:
            remaining = format_duration(max(self.cooldown.until - self.now, timedelta(0)))
            return (
                f"breach at severity {self.severity}, but a rollback ran at "
                f"{self.cooldown.since.isoformat()}: cooldown for another {remaining}, "
                "no new recommendation"
            )
        if self.insufficient:
            names = ", ".join(e.metric for e in self.insufficient)
            return f"no breach declared, but there is not enough fresh data for: {names}"
        return "no breach: every criterion is clear"


def auto_execute_at(runbook: Runbook, decision: Decision) -> datetime | None:
    """When the recommended path runs by itself unless held: only inside its pre-approved
    boundaries (severity, time window) and only where the runbook's tier allows it."""
    if decision.recommendation is None or decision.severity is None:
        return None
    auto = decision.recommendation.path.auto_execute
    if auto is None or not runbook.effective_defaults()["allow_auto_execute"]:
        return None
    if SEVERITY_ORDER[decision.severity] > SEVERITY_ORDER[auto.max_severity]:
        return None
    if auto.window is not None and not auto.window.contains(decision.now):
        return None
    return decision.now + auto.veto_window


def decide(
    runbook: Runbook,
    samples: Sequence[Sample],
    now: datetime,
    *,
    prior_states: Mapping[str, CriterionState] | None = None,
    records: Mapping[str, PathRecord] | None = None,
    last_rollback_at: datetime | None = None,
) -> Decision:
    """Evaluate every criterion at ``now`` and, on a breach, recommend a path.

    ``last_rollback_at`` starts the runbook's cooldown: while it runs, breaches are reported
    but no new recommendation is made.
    """
    evaluations = evaluate_all(runbook, samples, now, prior_states)
    return decide_on(runbook, evaluations, now, records=records, last_rollback_at=last_rollback_at)


def decide_on(
    runbook: Runbook,
    criteria: Sequence[CriterionEvaluation],
    now: datetime,
    *,
    records: Mapping[str, PathRecord] | None = None,
    last_rollback_at: datetime | None = None,
) -> Decision:
    """``decide`` from criteria already evaluated (e.g. from their stored states)."""
    evaluations = tuple(criteria)
    severity = overall_severity(evaluations)
    breached = [e.metric for e in evaluations if e.state is CriterionState.BREACH]
    cooldown = None
    if last_rollback_at is not None and cooldown_after(last_rollback_at, runbook).active(now):
        cooldown = cooldown_after(last_rollback_at, runbook)
    recommendation = None
    if severity is not None and cooldown is None:
        recommendation = recommend(
            runbook, severity=severity, breached_metrics=breached, records=records
        )
    return Decision(
        runbook_id=runbook.id,
        runbook_version=runbook.version,
        now=now,
        criteria=evaluations,
        severity=severity,
        recommendation=recommendation,
        cooldown=cooldown if severity is not None else None,
    )

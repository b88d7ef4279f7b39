"""The contexts of a rollback's messages: the recommendation, the execution's result and the
validation's (their shapes: ``bot.render.contexts``), built from core values and rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.core.criteria import CriterionEvaluation, Sample
from bot.core.durations import format_duration
from bot.core.impact import Alternative, PathRecord, Recommendation
from bot.core.rollbacks import ValidationState
from bot.core.runbook import Criterion, RollbackPath, Runbook
from bot.executors import ExecutionOutcome
from bot.render.contexts import (
    AutoExecuteView,
    CriterionView,
    ExecutionResultContext,
    PathView,
    RollbackRecommendationContext,
    SampleView,
    TrackRecord,
    ValidationResultContext,
)
from bot.services.context_parts import iso, rule_view, runbook_ref
from bot.store.tables import RollbackRecommendation


def sustain_text(sustain: int | timedelta) -> str:
    if isinstance(sustain, int):
        return f"{sustain} sample{'s' if sustain != 1 else ''}"
    return format_duration(sustain)


def criterion_views(
    runbook: Runbook, evaluations: tuple[CriterionEvaluation, ...]
) -> list[CriterionView]:
    views: list[CriterionView] = []
    for evaluation in evaluations:
        criterion = runbook.criterion(evaluation.metric)
        assert criterion is not None
        views.append(
            {
                "metric": evaluation.metric,
                "direction": criterion.direction,
                "threshold": criterion.threshold,
                "margin": criterion.margin,
                "breach_point": criterion.breach_point,
                "clear_point": criterion.clear_point,
                "sustain": sustain_text(criterion.sustain),
                "state": evaluation.state.value,
                "latest": evaluation.latest_value,
                "recent_values": [sample.value for sample in evaluation.samples][-12:],
                "explanation": evaluation.explanation,
            }
        )
    return views


def path_view(item: Recommendation | Alternative, reason: str) -> PathView:
    return {
        "id": item.path.id,
        "title": item.path.title,
        "kind": item.path.kind,
        "covers": item.path.covers,
        "adequate": item.adequate,
        "score": item.score,
        "arithmetic": item.arithmetic,
        "reason": reason,
        "track_record": track_record(item.record),
    }


def track_record(record: PathRecord | None) -> TrackRecord | None:
    if record is None:
        return None
    return {
        "uses": record.uses,
        "recovered": record.recovered,
        "median_minutes_to_recover": record.median_minutes_to_recover,
        "drill_uses": record.drill_uses,
        "drill_recovered": record.drill_recovered,
        "lesson": record.lesson,
    }


def recommendation_context(
    runbook: Runbook,
    *,
    request_id: int,
    recommendation: Recommendation,
    evaluations: tuple[CriterionEvaluation, ...],
    severity: str,
    detected_at: datetime,
    requested_by: str | None,
    expires_at: datetime,
    auto_execute_at: datetime | None,
    drill: bool = False,
) -> RollbackRecommendationContext:
    why = recommendation.explanation.splitlines()[0].split(": ", 2)[-1]
    auto: AutoExecuteView | None = None
    if auto_execute_at is not None:
        minutes = max(1, round((auto_execute_at - detected_at).total_seconds() / 60))
        auto = {"at": iso(auto_execute_at), "minutes": minutes}
    return {
        "runbook": runbook_ref(runbook),
        "request_id": str(request_id),
        "drill": drill,
        "severity": severity,
        "detected_at": iso(detected_at),
        "requested_by": requested_by,
        "criteria": criterion_views(runbook, evaluations),
        "recommended": path_view(recommendation, why),
        "alternatives": [path_view(a, a.reason) for a in recommendation.alternatives],
        "approval": rule_view(runbook, recommendation.approval),
        "expires_at": iso(expires_at),
        "auto_execute": auto,
        "decision": None,
    }


def execution_context(
    runbook: Runbook,
    path: RollbackPath,
    recommendation: RollbackRecommendation,
    outcome: ExecutionOutcome,
    approvers: list[str],
) -> ExecutionResultContext:
    return {
        "runbook": runbook_ref(runbook),
        "request_id": str(recommendation.id),
        "drill": recommendation.drill_run_id is not None,
        "path": {"id": path.id, "title": path.title},
        "executor": {"type": path.executor.type, "target": outcome.target},
        "outcome": outcome.outcome,
        "started_at": iso(outcome.started_at),
        "finished_at": iso(outcome.finished_at),
        "duration_seconds": round(outcome.duration_seconds, 3),
        "attempts": outcome.attempts,
        "approved_by": approvers,
        "output_excerpt": outcome.output_excerpt,
    }


def validation_context(
    runbook: Runbook,
    path: RollbackPath,
    criterion: Criterion,
    *,
    request_id: int | None,
    drill: bool,
    outcome: ValidationState,
    samples: Sequence[Sample],
    evidence: str | None = None,
) -> ValidationResultContext:
    """``samples``: the validation metric's since the execution, oldest first."""
    endorse_role = path.validation.endorse_role
    shown: list[SampleView] = [{"at": iso(s.at), "value": s.value} for s in samples[-20:]]
    return {
        "runbook": runbook_ref(runbook),
        "request_id": str(request_id if request_id is not None else ""),
        "drill": drill,
        "path": {"id": path.id, "title": path.title},
        "metric": criterion.metric,
        "evidence": evidence,
        "window": format_duration(path.validation.window),
        "direction": criterion.direction,
        "clear_point": criterion.clear_point,
        "outcome": outcome.value,
        "samples": shown,
        "endorse_role": endorse_role,
        "endorse_members": list(runbook.roles.get(endorse_role, [])),
        "endorsed_by": None,
        "endorsed_at": None,
    }

"""Template contexts for rollbacks, built from core decisions and stored rows (JSON-able)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from bot.core.criteria import CriterionEvaluation
from bot.core.durations import format_duration
from bot.core.impact import Alternative, Recommendation
from bot.core.runbook import Runbook
from bot.services.releases.contexts import iso, rule_view, runbook_ref


def sustain_text(sustain: int | timedelta) -> str:
    if isinstance(sustain, int):
        return f"{sustain} sample{'s' if sustain != 1 else ''}"
    return format_duration(sustain)


def criterion_views(
    runbook: Runbook, evaluations: tuple[CriterionEvaluation, ...]
) -> list[dict[str, Any]]:
    views = []
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
                "state": str(evaluation.state),
                "latest": evaluation.latest_value,
                "recent_values": [sample.value for sample in evaluation.samples][-12:],
                "explanation": evaluation.explanation,
            }
        )
    return views


def path_view(item: Recommendation | Alternative, reason: str) -> dict[str, Any]:
    return {
        "id": item.path.id,
        "title": item.path.title,
        "kind": item.path.kind,
        "covers": item.path.covers,
        "adequate": item.adequate,
        "score": item.score,
        "arithmetic": item.arithmetic,
        "reason": reason,
        "track_record": asdict(item.record) if item.record is not None else None,
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
) -> dict[str, Any]:
    why = recommendation.explanation.splitlines()[0].split(": ", 2)[-1]
    auto = None
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

"""The rollback journal's two entries in the trail (issue 18): what an approved rollback is
expected to do, recorded with the approval, and what it did, recorded with the validation.

``rollback.expected`` names the validation metric, the value it must return inside (the
criterion's clear point), the window it has to do so after execution, and the path's track
record at the moment of the approval. The actual outcome rides on ``rollback.validated``:
the values seen since execution, the minutes to recovery, recovered or not. Who endorsed it
is the later ``rollback.endorsed``. The journal (``bot.core.journal``) folds the three.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import select

from bot.core.approvals import RequestState
from bot.core.criteria import CriterionEvaluation, Sample
from bot.core.rollbacks import ValidationState
from bot.core.runbook import Criterion, RollbackPath, Runbook
from bot.core.subjects import recommendation_subject
from bot.core.trail import ACTOR_BOT
from bot.services.approvals.kinds import Ballot
from bot.services.outbox.jobs import PostRollback
from bot.services.postmortems import prompt_context
from bot.services.rollbacks.contexts import validation_context
from bot.services.rollbacks.history import path_records
from bot.store import UnitOfWork
from bot.store.tables import ApprovalRequest, RollbackRecommendation, row_id

VALUES_KEPT = 30  # the latest values seen are recorded; the count says how many there were


def record_expected_outcome(uow: UnitOfWork, ballot: Ballot[Any], *, now: datetime) -> None:
    """Append ``rollback.expected`` for an approved rollback (in the deciding unit)."""
    recommendation, path = ballot.about.recommendation, ballot.about.path
    runbook = ballot.runbook
    criterion = runbook.criterion(path.validation.metric)
    record = path_records(uow.session, runbook_id=runbook.id).get(path.id)
    window = path.validation.window
    uow.trail(
        kind="rollback.expected",
        actor=ACTOR_BOT,
        subject=recommendation_subject(recommendation),
        at=now,
        channel_id=recommendation.channel_id,
        thread_ts=recommendation.conversation_ts,
        payload={
            "runbook": runbook.id,
            "path": path.id,
            "drill": recommendation.drill_run_id is not None,
            "metric": path.validation.metric,
            "direction": criterion.direction if criterion else None,
            "inside": criterion.clear_point if criterion else None,
            "threshold": criterion.threshold if criterion else None,
            "window_seconds": window.total_seconds(),
            "expected_by": now + window,
            "endorse_role": path.validation.endorse_role,
            "track_record": record.describe() if record else "no past uses",
            "past_uses": record.uses if record else 0,
            "past_recovered": record.recovered if record else 0,
        },
    )


def actual_outcome(
    criterion: Criterion,
    samples: Sequence[Sample],
    result: dict[str, Any],
    *,
    outcome: ValidationState,
) -> dict[str, Any]:
    """The actual outcome's fields of ``rollback.validated``."""
    seen = [[sample.at, sample.value] for sample in samples[-VALUES_KEPT:]]
    minutes = result.get("minutes_to_recover")
    return {
        "recovered": outcome is ValidationState.RECOVERED,
        "inside": criterion.clear_point,
        "direction": criterion.direction,
        "values": seen,
        "values_seen": len(samples),
        "minutes_to_recover": minutes if isinstance(minutes, int | float) else None,
    }


def minutes_to_recover(
    criterion: Criterion, samples: Sequence[Sample], *, since: datetime
) -> float | None:
    """Minutes from ``since`` (the execution's start) to the first sample back inside."""
    clear = criterion.clear_point
    for sample in samples:
        if sample.value < clear if criterion.direction == "above" else sample.value > clear:
            return round((sample.at - since).total_seconds() / 60, 1)
    return None


def record_validation(
    uow: UnitOfWork, *, runbook: Runbook, path: RollbackPath,
    recommendation: RollbackRecommendation, criterion: Criterion, execution_id: int,
    evaluation: CriterionEvaluation, samples: Sequence[Sample], result: dict[str, Any],
    outcome: ValidationState, now: datetime,
) -> None:  # fmt: skip
    """``rollback.validated`` with the actual outcome, the result in the thread, and the
    invitation to write the post-mortem (in the validating unit)."""
    request = uow.session.exec(
        select(ApprovalRequest).where(
            ApprovalRequest.recommendation_id == recommendation.id,
            ApprovalRequest.state == RequestState.APPROVED,
        )
    ).first()
    uow.trail(
        kind="rollback.validated",
        actor=ACTOR_BOT,
        subject=recommendation_subject(recommendation),
        at=now,
        channel_id=recommendation.channel_id,
        thread_ts=recommendation.conversation_ts,
        payload={
            "execution_id": execution_id,
            "metric": criterion.metric,
            "outcome": outcome.value,
            "explanation": evaluation.explanation,
            **actual_outcome(criterion, samples, result, outcome=outcome),
        },
    )
    context = validation_context(
        runbook, path, criterion, request_id=request.id if request else None,
        drill=recommendation.drill_run_id is not None, outcome=outcome, samples=samples,
        evidence=evaluation.explanation,
    )  # fmt: skip
    rollback_id = row_id(recommendation)
    uow.enqueue(
        PostRollback(recommendation_id=rollback_id, template="validation_result", context=context),
        now=now,
    )
    if recommendation.drill_run_id is None:  # a drill invites one with its report
        prompt = prompt_context(runbook, recommendation_subject(recommendation))
        uow.enqueue(
            PostRollback(recommendation_id=rollback_id, template="postmortem_prompt",
                         context=prompt),
            now=now,
        )  # fmt: skip

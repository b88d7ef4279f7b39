"""A recommendation's approval request as its evidence evolves.

A recommendation is bound to its evidence (path, severity, breached metrics: its
``fingerprint``). Newer values of the same evidence update its message in place
(``refresh``); changed evidence before the decision supersedes its request, voiding the
votes, and asks again (``supersede``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.core.approvals import REQUEST, RequestState
from bot.core.decision import Decision, auto_execute_at
from bot.core.runbook import Runbook
from bot.core.subjects import rollback_subject
from bot.core.trail import ACTOR_BOT
from bot.render.contexts import RollbackRecommendationContext
from bot.services.due_work import plan_auto_execute, plan_request
from bot.services.outbox.jobs import PostRollback, UpdateRollback
from bot.services.rollbacks.contexts import recommendation_context
from bot.store import UnitOfWork, advance
from bot.store.tables import ApprovalRequest, RollbackRecommendation, row_id

MONITORING = "monitoring"  # who asked, when monitoring's samples raised the recommendation


def fingerprint(decision: Decision) -> list[Any]:
    assert decision.recommendation is not None
    return [
        decision.recommendation.path.id,
        decision.severity,
        sorted(e.metric for e in decision.breached),
    ]


def request_for(uow: UnitOfWork, recommendation: RollbackRecommendation) -> ApprovalRequest | None:
    return uow.session.exec(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.recommendation_id == recommendation.id,
            col(ApprovalRequest.state).in_(REQUEST.open_states),
        )
        .order_by(col(ApprovalRequest.id).desc())
    ).first()


def new_request(
    uow: UnitOfWork,
    *,
    runbook: Runbook,
    recommendation: RollbackRecommendation,
    decision: Decision,
    now: datetime,
) -> ApprovalRequest:
    assert decision.recommendation is not None
    rule = decision.recommendation.approval
    request = ApprovalRequest(
        subject=rollback_subject(row_id(recommendation)),
        action="rollback",
        recommendation_id=recommendation.id,
        path_id=decision.recommendation.path.id,
        roles={role: list(runbook.roles.get(role, [])) for role in rule.roles},
        quorum=rule.required_total,
        requested_by=recommendation.requested_by,
        state=REQUEST.initial.value,
        expires_at=now + rule.expires_after,
        channel_id=recommendation.channel_id,
        message_ts=recommendation.message_ts,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(request)
    uow.session.flush()
    delay = rule.escalation_delay
    plan_request(
        uow, request_id=row_id(request), expires_at=now + rule.expires_after,
        escalate_at=None if delay is None else now + delay, now=now,
    )  # fmt: skip
    return request


def context_for(
    runbook: Runbook,
    request: ApprovalRequest,
    decision: Decision,
    now: datetime,
    requested_by: str,
    auto_at: datetime | None,
    drill: bool = False,
) -> RollbackRecommendationContext:
    assert decision.recommendation is not None and decision.severity is not None
    return recommendation_context(
        runbook,
        request_id=row_id(request),
        recommendation=decision.recommendation,
        evaluations=decision.criteria,
        severity=decision.severity,
        detected_at=now,
        requested_by=None if requested_by == MONITORING else requested_by,
        expires_at=request.expires_at or now,
        auto_execute_at=auto_at,
        drill=drill,
    )


def refresh(
    uow: UnitOfWork,
    *,
    runbook: Runbook,
    recommendation: RollbackRecommendation,
    decision: Decision,
    now: datetime,
) -> None:
    """Same evidence, newer values: update the message in place, post nothing new."""
    request = request_for(uow, recommendation)
    if request is None:
        return
    auto = auto_execute_at(runbook, decision)
    auto_at = (
        request.created_at + (auto - decision.now)
        if auto is not None and request.state == RequestState.PENDING
        else None
    )
    context = context_for(
        runbook, request, decision, now, recommendation.requested_by, auto_at,
        drill=recommendation.drill_run_id is not None,
    )  # fmt: skip
    context["detected_at"] = request.created_at.isoformat()
    recommendation.trigger = {**recommendation.trigger, "context": context}
    uow.session.add(recommendation)
    update = UpdateRollback(
        recommendation_id=row_id(recommendation),
        template="rollback_recommendation",
        context=context,
    )
    uow.enqueue(update, now=now)


def supersede(
    uow: UnitOfWork,
    *,
    runbook: Runbook,
    recommendation: RollbackRecommendation,
    decision: Decision,
    now: datetime,
) -> None:
    """The evidence changed before quorum: void the votes, ask again on the new evidence."""
    assert decision.recommendation is not None
    old = request_for(uow, recommendation)
    subject = rollback_subject(row_id(recommendation))
    if old is not None and not advance(
        uow.session,
        model=ApprovalRequest,
        row_id=row_id(old),
        lifecycle=REQUEST,
        to_state=RequestState.SUPERSEDED,
        now=now,
        values={"decided_at": now},
    ):
        return
    before = recommendation.trigger.get("fingerprint")
    recommendation.path_id = decision.recommendation.path.id
    recommendation.trigger = {
        **recommendation.trigger,
        "fingerprint": fingerprint(decision),
        "severity": decision.severity,
    }
    recommendation.updated_at = now
    uow.session.add(recommendation)
    request = new_request(
        uow, runbook=runbook, recommendation=recommendation, decision=decision, now=now
    )
    uow.trail(
        kind="approval.voided",
        actor=ACTOR_BOT,
        subject=subject,
        at=now,
        channel_id=recommendation.channel_id,
        thread_ts=recommendation.thread_ts,
        message_ts=recommendation.message_ts,
        payload={
            "old_request_id": old.id if old else None,
            "new_request_id": request.id,
            "evidence_before": before,
            "evidence_now": fingerprint(decision),
        },
    )
    text = (
        f"⚠️ The evidence changed ({describe_evidence(before)} → "
        f"{describe_evidence(fingerprint(decision))}) before the decision: earlier "
        "votes are void. Please vote again on the updated recommendation."
    )
    uow.enqueue(PostRollback(recommendation_id=row_id(recommendation), text=text), now=now)
    auto_at = auto_execute_at(runbook, decision)
    context = context_for(runbook, request, decision, now, recommendation.requested_by, auto_at)
    recommendation.trigger = {**recommendation.trigger, "context": context}
    uow.session.add(recommendation)
    update = UpdateRollback(
        recommendation_id=row_id(recommendation),
        template="rollback_recommendation",
        context=context,
    )
    uow.enqueue(update, now=now)
    if auto_at is not None:
        plan_auto_execute(uow, request_id=row_id(request), at=auto_at, now=now)


def describe_evidence(evidence: Any) -> str:
    if not isinstance(evidence, list) or len(evidence) != 3:
        return "unknown"
    path, severity, metrics = evidence
    return f"`{path}` at {severity} for {', '.join(metrics) or 'nothing'}"

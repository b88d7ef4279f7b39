"""The endorsement of a rollback's restored state, by the path's ``endorse_role``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bot.core.rollbacks import ExecutionState
from bot.services.outbox.jobs import PostRollback
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.store import UnitOfWork, transition_state
from bot.store.tables import ApprovalRequest, Execution, row_id

if TYPE_CHECKING:
    from bot.services.rollbacks.executions import Loaded


def endorse_in(
    uow: UnitOfWork,
    load: Callable[[Session, int], Loaded | None],
    request_id: int,
    *,
    user_id: str,
    groups: GroupDirectory,
    now: datetime,
) -> Reply:
    """Endorse the restored state of ``request_id``'s execution, once: a conditional change
    (still unendorsed), so two endorsements at once give one event and one post."""
    session = uow.session
    request = session.get(ApprovalRequest, request_id)
    execution = session.exec(
        select(Execution).where(
            Execution.recommendation_id == (request.recommendation_id if request else -1)
        )
    ).first()
    loaded = load(session, row_id(execution)) if execution else None
    if request is None or loaded is None:
        return Reply(False, "There is nothing to endorse here.")
    execution, recommendation, runbook, path = (
        loaded.execution, loaded.recommendation, loaded.runbook, loaded.path,
    )  # fmt: skip
    role = path.validation.endorse_role
    subject = f"rollback:{recommendation.id}"
    try:
        held = roles_of(runbook, user_id, groups, among=[role])
    except MembershipUnavailable as error:
        uow.trail(
            kind="rollback.endorse_refused",
            actor=user_id,
            subject=subject,
            at=now,
            channel_id=recommendation.channel_id,
            payload={
                "execution_id": execution.id,
                "why": "membership_unavailable",
                "detail": str(error),
            },
        )
        return Reply(False, f"I could not check your roles ({error}); not recorded.")
    if role not in held:
        uow.trail(
            kind="rollback.endorse_refused",
            actor=user_id,
            subject=subject,
            at=now,
            channel_id=recommendation.channel_id,
            payload={"execution_id": execution.id, "why": "not_endorsing_role"},
        )
        return Reply(False, f"Only members of *{role}* can endorse the restored state.")
    if execution.endorsed_by is not None:
        return Reply(False, f"Already endorsed by <@{execution.endorsed_by}>.")
    if not transition_state(
        session, model=Execution, row_id=row_id(execution),
        from_states=[ExecutionState.SUCCEEDED.value], to_state=ExecutionState.SUCCEEDED.value,
        now=now, values={"endorsed_by": user_id, "endorsed_at": now},
        only_if={"endorsed_by": None},
    ):  # fmt: skip
        session.refresh(execution)
        if execution.endorsed_by is not None:  # a concurrent endorsement won
            return Reply(False, f"Already endorsed by <@{execution.endorsed_by}>.")
        return Reply(False, "This execution cannot be endorsed.")
    uow.trail(
        kind="rollback.endorsed",
        actor=user_id,
        actor_role=role,
        subject=subject,
        at=now,
        channel_id=recommendation.channel_id,
        thread_ts=recommendation.conversation_ts,
        payload={"execution_id": execution.id, "validation": execution.validation_state},
    )
    text = (
        f"🤝 <@{user_id}> ({role}) endorsed the restored state "
        f"(validation: {execution.validation_state})."
    )
    uow.enqueue(PostRollback(recommendation_id=row_id(recommendation), text=text), now=now)
    return Reply(True, "Endorsed.")

"""The endorsement of a rollback's restored state, by the path's ``endorse_role``: once (a
conditional change, so two endorsements at once give one event and one post), from the
rollback's own thread, and every refused attempt kept in the trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bot.core.rollbacks import ExecutionState
from bot.core.subjects import recommendation_subject
from bot.services.approvals.clicks import (
    ANOTHER_CHANNEL,
    ANOTHER_MESSAGE,
    MISPLACED_TEXT,
    Clicked,
    misplaced,
)
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
    clicked: Clicked | None = None,
) -> Reply:
    """Endorse the restored state of ``request_id``'s execution, inside ``uow``."""
    session = uow.session
    request = session.get(ApprovalRequest, request_id)
    execution = session.exec(
        select(Execution).where(
            Execution.recommendation_id == (request.recommendation_id if request else -1)
        )
    ).first()
    loaded = load(session, row_id(execution)) if execution else None
    if request is None or loaded is None:
        if request is not None:  # asked on a rollback that has not run: kept all the same
            refuse_endorsement(
                uow, request.subject, user_id=user_id, now=now, why="nothing_to_endorse",
                held=None, channel_id=request.channel_id, thread_ts=None,
                detail={"request_id": request.id},
            )  # fmt: skip
        return Reply(False, "There is nothing to endorse here.")
    execution, recommendation, runbook, path = (
        loaded.execution, loaded.recommendation, loaded.runbook, loaded.path,
    )  # fmt: skip
    role = path.validation.endorse_role
    subject = recommendation_subject(recommendation)

    def refuse(why: str, text: str, held: frozenset[str] | None, **detail: object) -> Reply:
        refuse_endorsement(
            uow, subject, user_id=user_id, now=now, why=why, held=held,
            channel_id=recommendation.channel_id, thread_ts=recommendation.conversation_ts,
            detail={"execution_id": execution.id, **detail},
        )  # fmt: skip
        return Reply(False, text, misplaced=why in (ANOTHER_CHANNEL, ANOTHER_MESSAGE))

    wrong = misplaced(
        clicked, channel_id=recommendation.channel_id, message_ts=request.message_ts,
        thread_ts=recommendation.conversation_ts, in_thread=True,
    )  # fmt: skip
    if wrong is not None and clicked is not None:
        return refuse(wrong, MISPLACED_TEXT.format(noun="rollback"), None, **clicked.details())
    try:
        held = roles_of(runbook, user_id, groups, among=[role])
    except MembershipUnavailable as error:
        text = f"I could not check your roles ({error}); not recorded."
        return refuse("membership_unavailable", text, None, detail=str(error))
    if role not in held:
        text = f"Only members of *{role}* can endorse the restored state."
        return refuse("not_endorsing_role", text, held)
    if execution.endorsed_by is not None:
        text = f"Already endorsed by <@{execution.endorsed_by}>."
        return refuse("already_endorsed", text, held, endorsed_by=execution.endorsed_by)
    if not transition_state(
        session, model=Execution, row_id=row_id(execution),
        from_states=[ExecutionState.SUCCEEDED.value], to_state=ExecutionState.SUCCEEDED.value,
        now=now, values={"endorsed_by": user_id, "endorsed_at": now},
        only_if={"endorsed_by": None},
    ):  # fmt: skip
        session.refresh(execution)
        if execution.endorsed_by is not None:  # a concurrent endorsement won
            text = f"Already endorsed by <@{execution.endorsed_by}>."
            return refuse("already_endorsed", text, held, endorsed_by=execution.endorsed_by)
        text = "This execution cannot be endorsed."
        return refuse("not_endorsable", text, held, execution_state=execution.state)
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


def refuse_endorsement(
    uow: UnitOfWork, subject: str, *, user_id: str, now: datetime, why: str,
    held: frozenset[str] | None, channel_id: str | None, thread_ts: str | None,
    detail: dict[str, object],
) -> None:  # fmt: skip
    """A refused Endorse, in the trail: who, the roles they hold (None: unknown), why."""
    roles = None if held is None else sorted(held)
    uow.trail(
        kind="rollback.endorse_refused",
        actor=user_id,
        actor_role=",".join(roles) if roles else None,
        subject=subject,
        at=now,
        channel_id=channel_id,
        thread_ts=thread_ts,
        payload={"why": why, "roles_held": roles, **detail},
    )

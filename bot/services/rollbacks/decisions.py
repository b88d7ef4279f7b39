"""Deciding a rollback: its kind of approval request, Hold, and auto-execution.

The approval engine counts the votes, expires and escalates (``bot.services.approvals``);
this kind says what a decision does: the recommendation's state (``bot.core.rollbacks``), the
recommendation's message redrawn without its buttons, the outcome in its thread, and for an
approval exactly one Execution row (unique idempotency key) and an outbox job that runs it;
the executor worker moves the row from pending to running conditionally, so a redelivery, a
double click or a second replica never runs a path twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.core.approvals import REQUEST, ApprovalState, RequestState
from bot.core.rollbacks import RECOMMENDATION, ExecutionState, decided_recommendation
from bot.core.runbook import RollbackPath
from bot.render.contexts import ApprovalStateContext
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.clicks import (
    ANOTHER_CHANNEL,
    ANOTHER_MESSAGE,
    MISPLACED_TEXT,
    Clicked,
    misplaced,
)
from bot.services.approvals.engine import ApprovalEngine
from bot.services.approvals.kinds import Ballot
from bot.services.approvals.requests import Join, JoinedRows
from bot.services.outbox.jobs import ExecuteRollback, PostRollback, UpdateRollback
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, resolving_groups, roles_of
from bot.services.rollbacks.journal import record_expected_outcome
from bot.store import UnitOfWork, advance
from bot.store.tables import ApprovalRequest, Execution, RollbackRecommendation, row_id
from bot.store.units import UnitRunner

ACTION = "rollback"
DRILL = "drill"  # a drill's request (bot.services.drills.approval): Hold and auto-execution too
PRE_APPROVED = " (pre-approved, not held)"


@dataclass(frozen=True)
class RollbackOf:
    """The rows a rollback request belongs to."""

    recommendation: RollbackRecommendation
    path: RollbackPath


class RollbackApproval:
    """The rollback kind of approval request (``ApprovalKind``)."""

    action: str = ACTION
    noun: str = "rollback"
    joins: tuple[Join, ...] = (Join(RollbackRecommendation, ApprovalRequest, "recommendation_id"),)

    def __init__(self, *, runbooks: RunbookRegistry) -> None:
        self.runbooks = runbooks

    def ballot(self, request: ApprovalRequest, rows: JoinedRows) -> Ballot[RollbackOf] | Reply:
        recommendation = rows.get(RollbackRecommendation)
        if recommendation is None or request.recommendation_id is None:
            return Reply(False, "This rollback request no longer exists.")
        runbook = self.runbooks.get(recommendation.runbook_id)
        path = runbook.path(request.path_id or "") if runbook else None
        if runbook is None or path is None:
            return Reply(False, "This rollback's runbook or path no longer exists.")
        title = f"Rollback of {runbook.id}: {path.title}"
        return Ballot(
            request=request,
            runbook=runbook,
            rule=path.approval,
            about=RollbackOf(recommendation, path),
            thread_ts=recommendation.conversation_ts,
            message_ts=recommendation.message_ts,
            title=title,
            prompt=title,
        )

    def reply_in_thread(
        self,
        uow: UnitOfWork,
        ballot: Ballot[RollbackOf],
        *,
        now: datetime,
        template: str | None = None,
        context: ApprovalStateContext | None = None,
        text: str | None = None,
    ) -> None:
        recommendation_id = row_id(ballot.about.recommendation)
        job = PostRollback(
            recommendation_id=recommendation_id, template=template, context=context, text=text
        )
        uow.enqueue(job, now=now)

    def decision_details(self, ballot: Ballot[RollbackOf], *, auto: bool) -> dict[str, Any]:
        return {"path": ballot.about.path.id, "auto": auto}

    def close(
        self, uow: UnitOfWork, ballot: Ballot[RollbackOf], state: RequestState, *, now: datetime
    ) -> None:
        advance(
            uow.session, model=RollbackRecommendation,
            row_id=row_id(ballot.about.recommendation), lifecycle=RECOMMENDATION,
            to_state=decided_recommendation(ApprovalState(state.value)), now=now,
            values={"decided_at": now},
        )  # fmt: skip

    def announce(
        self,
        uow: UnitOfWork,
        ballot: Ballot[RollbackOf],
        state: RequestState,
        context: ApprovalStateContext,
        *,
        now: datetime,
    ) -> None:
        recommendation, path = ballot.about.recommendation, ballot.about.path
        recommendation_id = row_id(recommendation)
        shown = recommendation.trigger.get("context")
        if isinstance(shown, dict):  # the recommendation stays readable, without buttons
            context_now = {**shown, "decision": state.value, "auto_execute": None}
            uow.enqueue(
                UpdateRollback(
                    recommendation_id=recommendation_id,
                    template="rollback_recommendation",
                    context=context_now,
                ),
                now=now,
            )
        self.reply_in_thread(uow, ballot, template="approval_state", context=context, now=now)
        if state is not RequestState.APPROVED:
            return
        execution = Execution(
            recommendation_id=recommendation_id,
            idempotency_key=f"rollback-{recommendation.id}-request-{ballot.request.id}",
            path_id=path.id,
            executor=path.executor.type,
            dry_run=recommendation.drill_run_id is not None or path.executor.type == "dry-run",
            state=ExecutionState.PENDING.value,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(execution)
        uow.session.flush()
        uow.enqueue(ExecuteRollback(execution_id=row_id(execution)), now=now)
        record_expected_outcome(uow, ballot, now=now)


class RollbackDecisions:
    """What only rollbacks have: Hold during the veto window, and auto-execution after it."""

    def __init__(
        self, *, approvals: ApprovalEngine, directory: GroupDirectory, units: UnitRunner
    ) -> None:
        self.approvals = approvals
        self.directory = directory
        self.units = units

    def _rollback(self, uow: UnitOfWork, request_id: int) -> Ballot[RollbackOf] | Reply:
        found = self.approvals.ballot(uow, request_id)
        if isinstance(found, Ballot) and found.request.action not in (ACTION, DRILL):
            return Reply(False, "This rollback request no longer exists.")
        return found

    def hold(
        self, *, request_id: int, user_id: str, now: datetime, clicked: Clicked | None = None
    ) -> Reply:
        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                found = self._rollback(uow, request_id)
                return found if isinstance(found, Reply) else self._hold(
                    uow, found, user_id=user_id, groups=groups, now=now, clicked=clicked
                )  # fmt: skip

            return self.units.run(unit)

        return resolving_groups(self.directory, attempt)

    def _hold(
        self,
        uow: UnitOfWork,
        found: Ballot[RollbackOf],
        *,
        user_id: str,
        groups: GroupDirectory,
        now: datetime,
        clicked: Clicked | None,
    ) -> Reply:
        request, recommendation = found.request, found.about.recommendation

        def refuse(why: str, text: str, held: frozenset[str] | None, **detail: object) -> Reply:
            roles = None if held is None else sorted(held)
            uow.trail(
                kind="rollback.hold_refused",
                actor=user_id,
                actor_role=",".join(roles) if roles else None,
                subject=request.subject,
                at=now,
                channel_id=request.channel_id,
                thread_ts=found.thread_ts,
                payload={"request_id": request.id, "why": why, "roles_held": roles, **detail},
            )
            return Reply(False, text, misplaced=why in (ANOTHER_CHANNEL, ANOTHER_MESSAGE))

        wrong = misplaced(
            clicked, channel_id=request.channel_id, message_ts=request.message_ts,
            thread_ts=found.thread_ts,
        )  # fmt: skip
        if wrong is not None and clicked is not None:
            text = MISPLACED_TEXT.format(noun="rollback")
            return refuse(wrong, text, None, **clicked.details())
        try:
            held = roles_of(found.runbook, user_id, groups, among=list(found.rule.roles))
        except MembershipUnavailable as error:
            text = f"I could not check your roles ({error}); nothing held."
            return refuse("membership_unavailable", text, None, detail=str(error))
        if not held:
            text = "Only the approving roles may hold an automatic rollback."
            return refuse("not_eligible", text, held)
        if not advance(
            uow.session, model=ApprovalRequest, row_id=row_id(request), lifecycle=REQUEST,
            to_state=RequestState.HELD, now=now,
        ):  # fmt: skip
            text = f"This rollback is {request.state}; nothing to hold."
            return refuse("not_holdable", text, held, state=request.state)
        uow.trail(
            kind="rollback.held",
            actor=user_id,
            actor_role=",".join(sorted(held)),
            subject=request.subject,
            at=now,
            channel_id=request.channel_id,
            thread_ts=recommendation.conversation_ts,
            payload={"request_id": request.id},
        )
        found_kind = self.approvals.kinds[request.action]
        found_kind.reply_in_thread(
            uow, found, now=now,
            text=f"✋ <@{user_id}> pressed Hold: the automatic rollback will not run. It now "
            "needs explicit approval.",
        )  # fmt: skip
        return Reply(True, "Held.")

    def auto_execute(self, *, request_id: int, now: datetime) -> bool:
        """The veto window has passed: approve by pre-approval unless someone held it."""

        def unit(uow: UnitOfWork) -> bool:
            found = self._rollback(uow, request_id)
            if isinstance(found, Reply) or found.state is not RequestState.PENDING:
                return False
            outcome = self.approvals.count(uow, found, now=now)
            noted = replace(found, title=found.title + PRE_APPROVED)
            context = self.approvals.context(noted, outcome, now=now)
            context["state"] = RequestState.APPROVED.value
            return self.approvals.decide(
                uow, noted, RequestState.APPROVED, context, now=now, auto=True
            )

        return self.units.run(unit)

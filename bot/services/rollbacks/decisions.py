"""Deciding a rollback: Approve / Reject votes, Hold, auto-execution, expiry, escalation.

An approved request gets exactly one Execution row (unique idempotency key) and an outbox job
that runs it; the executor worker moves the row from pending to running conditionally, so a
redelivery, a double click or a second replica never runs a path twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.approvals import ApprovalOutcome, ApprovalState
from bot.core.runbook import RollbackPath, Runbook
from bot.core.trail import ACTOR_BOT
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.ballots import count, mentions, record_and_count, vote_refusal
from bot.services.ledger import rollback_thread, row_id, trail
from bot.services.outbox import jobs
from bot.services.releases.contexts import approval_state_context
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.store import session_scope, transition_state
from bot.store.locks import lock_row
from bot.store.tables import ApprovalRequest, Execution, RollbackRecommendation

Bundle = tuple[ApprovalRequest, RollbackRecommendation, Runbook, RollbackPath]


class RollbackDecisions:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory

    def _bundle(self, session: Session, request_id: int) -> Bundle | Reply:
        lock_row(session, model=ApprovalRequest, row_id=request_id)  # votes count in turn
        request = session.get(ApprovalRequest, request_id)
        if request is None or request.recommendation_id is None:
            return Reply(False, "This rollback request no longer exists.")
        recommendation = session.get(RollbackRecommendation, request.recommendation_id)
        runbook = self.runbooks.get(recommendation.runbook_id) if recommendation else None
        path = runbook.path(request.path_id or "") if runbook else None
        if recommendation is None or runbook is None or path is None:
            return Reply(False, "This rollback's runbook or path no longer exists.")
        return request, recommendation, runbook, path

    # --- votes ----------------------------------------------------------------------------

    def check_vote_in(
        self,
        session: Session,
        *,
        directory: GroupDirectory,
        request_id: int,
        user_id: str,
        decision: Literal["approve", "reject"],
        now: datetime,
    ) -> Reply:
        """May ``user_id`` vote? A unit of work (``directory`` must not do I/O); refusals are
        recorded in the trail."""
        found = self._bundle(session, request_id)
        if isinstance(found, Reply):
            return found
        request, recommendation, runbook, path = found
        refusal, _ = vote_refusal(
            session,
            runbook=runbook,
            rule=path.approval,
            request=request,
            user_id=user_id,
            decision=decision,
            directory=directory,
            now=now,
            thread_ts=rollback_thread(recommendation),
            what="rollback",
        )
        return refusal or Reply(True, f"Rollback of {runbook.id}: {path.title}")

    def vote_in(
        self,
        session: Session,
        *,
        directory: GroupDirectory,
        request_id: int,
        user_id: str,
        decision: Literal["approve", "reject"],
        now: datetime,
        reason: str | None = None,
        action_ts: str | None = None,
    ) -> Reply:
        """Record and count a vote, as a unit of work (``directory`` must not do I/O)."""
        found = self._bundle(session, request_id)
        if isinstance(found, Reply):
            return found
        request, recommendation, runbook, path = found
        thread_ts = rollback_thread(recommendation)
        refusal, held = vote_refusal(
            session,
            runbook=runbook,
            rule=path.approval,
            request=request,
            user_id=user_id,
            decision=decision,
            directory=directory,
            now=now,
            thread_ts=thread_ts,
            what="rollback",
            check_duplicate=False,  # the vote's unique key catches a repeat
        )
        if refusal is not None:
            return refusal
        outcome = record_and_count(
            session,
            rule=path.approval,
            request=request,
            user_id=user_id,
            held=held,
            decision=decision,
            now=now,
            reason=reason,
            thread_ts=thread_ts,
            action_ts=action_ts,
        )
        if outcome is None:
            return Reply(False, "Your vote was already counted; it counts once.")
        self._after_count(session, found, outcome, now=now)
        return Reply(True, ("Approval" if decision == "approve" else "Rejection") + " recorded.")

    def _after_count(
        self,
        session: Session,
        found: Bundle,
        outcome: ApprovalOutcome,
        *,
        now: datetime,
        auto: bool = False,
    ) -> None:
        request, recommendation, runbook, path = found
        context = _state_context(runbook, path, request, outcome, now)
        if outcome.state is ApprovalState.PENDING:
            jobs.post_rollback(
                session,
                recommendation_id=row_id(recommendation),
                template="approval_state",
                context=context,
                now=now,
            )
            return
        self._decide(session, found, state=str(outcome.state), context=context, now=now, auto=auto)

    def _decide(
        self,
        session: Session,
        found: Bundle,
        *,
        state: str,
        context: dict[str, Any],
        now: datetime,
        auto: bool = False,
    ) -> bool:
        request, recommendation, runbook, path = found
        if not transition_state(
            session,
            model=ApprovalRequest,
            row_id=row_id(request),
            from_states=("pending", "held"),
            to_state=state,
            now=now,
            values={"decided_at": now},
        ):
            return False
        transition_state(
            session,
            model=RollbackRecommendation,
            row_id=row_id(recommendation),
            from_states=("pending", "held"),
            to_state=state,
            now=now,
            values={"decided_at": now},
        )
        trail(
            session,
            kind=f"rollback.{state}",
            actor=ACTOR_BOT,
            subject=request.subject,
            at=now,
            channel_id=request.channel_id,
            thread_ts=rollback_thread(recommendation),
            message_ts=recommendation.message_ts,
            payload={
                "request_id": request.id,
                "path": path.id,
                "auto": auto,
                "votes": context.get("votes"),
                "ignored": context.get("ignored"),
            },
        )
        shown = recommendation.trigger.get("context")
        if isinstance(shown, dict):  # the recommendation stays readable, without buttons
            jobs.update_rollback(
                session,
                recommendation_id=row_id(recommendation),
                template="rollback_recommendation",
                now=now,
                context={**shown, "decision": state, "auto_execute": None},
            )
        jobs.post_rollback(
            session,
            recommendation_id=row_id(recommendation),
            template="approval_state",
            context=context,
            now=now,
        )
        if state == "approved":
            execution = Execution(
                recommendation_id=row_id(recommendation),
                idempotency_key=f"rollback-{recommendation.id}-request-{request.id}",
                path_id=path.id,
                executor=path.executor.type,
                dry_run=recommendation.drill_run_id is not None or path.executor.type == "dry-run",
                state="pending",
                created_at=now,
                updated_at=now,
            )
            session.add(execution)
            session.flush()
            jobs.execute_rollback(session, execution_id=row_id(execution), now=now)
        return True

    # --- hold and auto-execution ---------------------------------------------------------

    def hold(self, *, request_id: int, user_id: str, now: datetime) -> Reply:
        with session_scope(self.engine) as session:
            found = self._bundle(session, request_id)
            if isinstance(found, Reply):
                return found
            request, recommendation, runbook, path = found
            try:
                held = roles_of(runbook, user_id, self.directory, among=list(path.approval.roles))
            except MembershipUnavailable as error:
                return Reply(False, f"I could not check your roles ({error}); nothing held.")
            if not held:
                trail(
                    session,
                    kind="rollback.hold_refused",
                    actor=user_id,
                    subject=request.subject,
                    at=now,
                    channel_id=request.channel_id,
                    payload={"request_id": request_id, "why": "not_eligible"},
                )
                return Reply(False, "Only the approving roles may hold an automatic rollback.")
            if not transition_state(
                session,
                model=ApprovalRequest,
                row_id=request_id,
                from_states="pending",
                to_state="held",
                now=now,
            ):
                return Reply(False, f"This rollback is {request.state}; nothing to hold.")
            trail(
                session,
                kind="rollback.held",
                actor=user_id,
                actor_role=",".join(sorted(held)),
                subject=request.subject,
                at=now,
                channel_id=request.channel_id,
                thread_ts=rollback_thread(recommendation),
                payload={"request_id": request_id},
            )
            jobs.post_rollback_text(
                session,
                recommendation_id=row_id(recommendation),
                now=now,
                text=f"✋ <@{user_id}> pressed Hold: the automatic rollback will not "
                "run. It now needs explicit approval.",
            )
        return Reply(True, "Held.")

    def auto_execute(self, *, request_id: int, now: datetime) -> bool:
        """The veto window has passed: approve by pre-approval unless someone held it."""
        with session_scope(self.engine) as session:
            found = self._bundle(session, request_id)
            if isinstance(found, Reply) or found[0].state != "pending":
                return False
            request, recommendation, runbook, path = found
            outcome = count(session, rule=path.approval, request=request, now=now)
            context = _state_context(
                runbook, path, request, outcome, now, note=" (pre-approved, not held)"
            )
            context["state"] = "approved"
            return self._decide(
                session, found, state="approved", context=context, now=now, auto=True
            )

    # --- time -----------------------------------------------------------------------------

    def expire(self, *, request_id: int, now: datetime) -> bool:
        with session_scope(self.engine) as session:
            found = self._bundle(session, request_id)
            if isinstance(found, Reply) or found[0].state not in ("pending", "held"):
                return False
            request, _, runbook, path = found
            if request.expires_at is None or request.expires_at > now:
                return False
            outcome = count(session, rule=path.approval, request=request, now=now)
            if outcome.state is not ApprovalState.EXPIRED:
                return False
            context = _state_context(runbook, path, request, outcome, now)
            return self._decide(session, found, state="expired", context=context, now=now)

    def expire_due(self, *, now: datetime) -> int:
        """Expire every rollback request still undecided past its expiry (the sweep)."""
        with session_scope(self.engine) as session:
            overdue = session.exec(
                select(ApprovalRequest).where(
                    ApprovalRequest.action == "rollback",
                    col(ApprovalRequest.state).in_(("pending", "held")),
                    col(ApprovalRequest.expires_at) <= now,
                )
            ).all()
            ids = [row_id(request) for request in overdue]
        return sum(self.expire(request_id=request_id, now=now) for request_id in ids)

    def escalate(self, *, request_id: int, now: datetime) -> bool:
        """Still undecided: mention the escalation roles in the thread (once per request)."""
        with session_scope(self.engine) as session:
            found = self._bundle(session, request_id)
            if isinstance(found, Reply) or found[0].state not in ("pending", "held"):
                return False
            request, recommendation, runbook, path = found
            roles = list(path.approval.escalate_to or path.approval.roles)
            trail(
                session,
                kind="approval.escalated",
                actor=ACTOR_BOT,
                subject=request.subject,
                at=now,
                channel_id=request.channel_id,
                thread_ts=rollback_thread(recommendation),
                payload={"request_id": request_id, "roles": roles},
            )
            jobs.post_rollback_text(
                session,
                recommendation_id=row_id(recommendation),
                now=now,
                text=(
                    f"📣 This rollback is still waiting for a decision. "
                    f"{', '.join(roles)}: {mentions(runbook, roles)} please decide."
                ),
            )
        return True


def _state_context(
    runbook: Runbook,
    path: RollbackPath,
    request: ApprovalRequest,
    outcome: ApprovalOutcome,
    now: datetime,
    note: str = "",
) -> dict[str, Any]:
    """What the approval_state message shows of this rollback."""
    return approval_state_context(
        runbook,
        request,
        outcome,
        kind="rollback",
        now=now,
        subject_text=f"Rollback of {runbook.id}: {path.title}{note}",
    )

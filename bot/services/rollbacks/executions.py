"""Running an approved path, watching the recovery, and the endorsement of the restored state.

``execute`` takes an Execution row from pending to running conditionally (exactly once, even
with two replicas), runs the executor outside any transaction, records the outcome, and
schedules the validation at the end of the path's monitoring window. ``validate`` judges the
validation metric's samples since the execution with the runbook's own criterion, and asks the
endorsing role to press Endorse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.criteria import CriterionState, evaluate_criterion
from bot.core.durations import format_duration
from bot.core.runbook import RollbackPath, Runbook
from bot.core.trail import ACTOR_BOT
from bot.executors import ExecutionOutcome, ExecutionRequest, run_executor
from bot.runbooks.registry import RunbookRegistry
from bot.services.ledger import rollback_thread, row_id, trail
from bot.services.outbox import jobs
from bot.services.outbox.worker import JobWorker
from bot.services.releases.contexts import iso, runbook_ref
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.services.scheduling import RollbackScheduling
from bot.store import session_scope, transition_state
from bot.store.samples import recent_samples
from bot.store.tables import ApprovalRequest, ApprovalVote, Execution, RollbackRecommendation
from bot.store.units import UnitRunner

VALIDATION_OUTCOMES = {
    CriterionState.CLEAR: "recovered",
    CriterionState.BREACH: "not_recovered",
    CriterionState.INSUFFICIENT_DATA: "insufficient_data",
}
Runner = Callable[..., ExecutionOutcome]


class ExecutionService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
        secrets: Mapping[str, str],
        clock: Callable[[], datetime],
        scheduling: RollbackScheduling | None = None,
        runner: Runner = run_executor,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.secrets = secrets
        self.clock = clock
        self.scheduling = scheduling
        self.runner = runner

    def _load(
        self, session: Session, execution_id: int
    ) -> tuple[Execution, RollbackRecommendation, Runbook, RollbackPath] | None:
        execution = session.get(Execution, execution_id)
        recommendation = (
            session.get(RollbackRecommendation, execution.recommendation_id) if execution else None
        )
        runbook = self.runbooks.get(recommendation.runbook_id) if recommendation else None
        path = runbook.path(execution.path_id) if runbook and execution else None
        if execution is None or recommendation is None or runbook is None or path is None:
            return None
        return execution, recommendation, runbook, path

    def execute(self, *, execution_id: int) -> bool:
        now = self.clock()
        with session_scope(self.engine) as session:
            loaded = self._load(session, execution_id)
            if loaded is None or not transition_state(
                session,
                model=Execution,
                row_id=execution_id,
                from_states="pending",
                to_state="running",
                now=now,
                values={"started_at": now, "attempts": 1},
            ):
                return False  # someone else runs it, or it already ran
            execution, recommendation, runbook, path = loaded
            approvers = [
                v.user_id
                for v in session.exec(
                    select(ApprovalVote)
                    .join(ApprovalRequest, col(ApprovalVote.request_id) == ApprovalRequest.id)
                    .where(
                        ApprovalRequest.recommendation_id == recommendation.id,
                        ApprovalRequest.state == "approved",
                        ApprovalVote.decision == "approve",
                    )
                ).all()
            ]
            request = ExecutionRequest(
                runbook_id=runbook.id,
                runbook_version=runbook.version,
                path_id=path.id,
                rollback_id=str(recommendation.id),
                severity=str(recommendation.trigger.get("severity", "")),
                idempotency_key=execution.idempotency_key,
                requested_by=recommendation.requested_by,
                approved_by=approvers,
                drill=recommendation.drill_run_id is not None,
            )
        outcome = self.runner(
            path.executor, request=request, secrets=self.secrets, clock=self.clock
        )
        finished = self.clock()
        state = "succeeded" if outcome.outcome in ("succeeded", "dry_run") else "failed"
        with session_scope(self.engine) as session:
            transition_state(
                session,
                model=Execution,
                row_id=execution_id,
                from_states="running",
                to_state=state,
                now=finished,
                values={
                    "finished_at": finished,
                    "attempts": outcome.attempts,
                    "result": _result(outcome),
                    "error": None if state == "succeeded" else outcome.detail,
                    "validation_state": "watching" if state == "succeeded" else None,
                },
            )
            transition_state(
                session,
                model=RollbackRecommendation,
                row_id=row_id(recommendation),
                from_states="approved",
                to_state="executed" if state == "succeeded" else "failed",
                now=finished,
            )
            trail(
                session,
                kind="rollback.executed",
                actor=ACTOR_BOT,
                subject=f"rollback:{recommendation.id}",
                at=finished,
                channel_id=recommendation.channel_id,
                thread_ts=rollback_thread(recommendation),
                payload={
                    "execution_id": execution_id,
                    "path": path.id,
                    "executor": path.executor.type,
                    **_result(outcome),
                },
            )
            jobs.post_rollback(
                session,
                recommendation_id=row_id(recommendation),
                template="execution_result",
                now=finished,
                context=_execution_context(runbook, path, recommendation, outcome, approvers),
            )
        if state == "succeeded" and self.scheduling is not None:
            self.scheduling.schedule_validation(
                execution_id=execution_id, at=finished + path.validation.window
            )
        return True

    def validate(self, *, execution_id: int) -> bool:
        now = self.clock()
        with session_scope(self.engine) as session:
            loaded = self._load(session, execution_id)
            if loaded is None or loaded[0].validation_state != "watching":
                return False
            execution, recommendation, runbook, path = loaded
            criterion = runbook.criterion(path.validation.metric)
            assert criterion is not None and execution.started_at is not None
            samples = recent_samples(
                session,
                runbook_id=runbook.id,
                since=execution.started_at,
                metrics=[criterion.metric],
            )
            evaluation = evaluate_criterion(criterion, samples, now)
            outcome = VALIDATION_OUTCOMES[evaluation.state]
            result = dict(execution.result)
            inside = [
                s for s in samples if _inside(criterion.direction, s.value, criterion.clear_point)
            ]
            if outcome == "recovered" and inside:
                result["minutes_to_recover"] = round(
                    (inside[0].at - execution.started_at).total_seconds() / 60, 1
                )
            if not transition_state(
                session,
                model=Execution,
                row_id=execution_id,
                from_states=("succeeded",),
                to_state="succeeded",
                now=now,
                values={"validation_state": outcome, "result": result},
            ):
                return False
            transition_state(
                session,
                model=RollbackRecommendation,
                row_id=row_id(recommendation),
                from_states="executed",
                to_state="validated" if outcome == "recovered" else "failed",
                now=now,
            )
            request = session.exec(
                select(ApprovalRequest).where(
                    ApprovalRequest.recommendation_id == recommendation.id,
                    ApprovalRequest.state == "approved",
                )
            ).first()
            trail(
                session,
                kind="rollback.validated",
                actor=ACTOR_BOT,
                subject=f"rollback:{recommendation.id}",
                at=now,
                channel_id=recommendation.channel_id,
                thread_ts=rollback_thread(recommendation),
                payload={
                    "execution_id": execution_id,
                    "metric": criterion.metric,
                    "outcome": outcome,
                    "explanation": evaluation.explanation,
                },
            )
            jobs.post_rollback(
                session,
                recommendation_id=row_id(recommendation),
                template="validation_result",
                now=now,
                context={
                    "runbook": runbook_ref(runbook),
                    "request_id": str(request.id if request else ""),
                    "drill": recommendation.drill_run_id is not None,
                    "path": {"id": path.id, "title": path.title},
                    "metric": criterion.metric,
                    "window": format_duration(path.validation.window),
                    "direction": criterion.direction,
                    "clear_point": criterion.clear_point,
                    "outcome": outcome,
                    "samples": [{"at": iso(s.at), "value": s.value} for s in samples][-20:],
                    "endorse_role": path.validation.endorse_role,
                    "endorse_members": list(runbook.roles.get(path.validation.endorse_role, [])),
                    "endorsed_by": None,
                    "endorsed_at": None,
                },
            )
        return True

    def endorse(self, *, request_id: int, user_id: str, now: datetime) -> Reply:
        with session_scope(self.engine) as session:
            request = session.get(ApprovalRequest, request_id)
            execution = session.exec(
                select(Execution).where(
                    Execution.recommendation_id == (request.recommendation_id if request else -1)
                )
            ).first()
            loaded = self._load(session, row_id(execution)) if execution else None
            if request is None or loaded is None:
                return Reply(False, "There is nothing to endorse here.")
            execution, recommendation, runbook, path = loaded
            role = path.validation.endorse_role
            try:
                held = roles_of(runbook, user_id, self.directory, among=[role])
            except MembershipUnavailable as error:
                return Reply(False, f"I could not check your roles ({error}); not recorded.")
            subject = f"rollback:{recommendation.id}"
            if role not in held:
                trail(
                    session,
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
            won = transition_state(
                session,
                model=Execution,
                row_id=row_id(execution),
                from_states="succeeded",
                to_state="succeeded",
                now=now,
                values={"endorsed_by": user_id, "endorsed_at": now},
            )
            if not won:
                return Reply(False, "This execution cannot be endorsed.")
            trail(
                session,
                kind="rollback.endorsed",
                actor=user_id,
                actor_role=role,
                subject=subject,
                at=now,
                channel_id=recommendation.channel_id,
                thread_ts=rollback_thread(recommendation),
                payload={"execution_id": execution.id, "validation": execution.validation_state},
            )
            jobs.post_rollback_text(
                session,
                recommendation_id=row_id(recommendation),
                now=now,
                text=f"🤝 <@{user_id}> ({role}) endorsed the restored state "
                f"(validation: {execution.validation_state}).",
            )
        return Reply(True, "Endorsed.")


def _inside(direction: str, value: float, clear_point: float) -> bool:
    return value < clear_point if direction == "above" else value > clear_point


def _result(outcome: ExecutionOutcome) -> dict[str, Any]:
    return {
        "outcome": outcome.outcome,
        "attempts": outcome.attempts,
        "duration_seconds": round(outcome.duration_seconds, 3),
        "detail": outcome.detail,
        "target": outcome.target,
        "output_excerpt": outcome.output_excerpt,
    }


def _execution_context(
    runbook: Runbook,
    path: RollbackPath,
    recommendation: RollbackRecommendation,
    outcome: ExecutionOutcome,
    approvers: list[str],
) -> dict[str, Any]:
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


class ExecutionWorker(JobWorker):
    """Runs approved paths from the outbox, apart from Slack delivery so neither waits."""

    name = "executor"

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Callable[[], datetime],
        executions: ExecutionService,
        after: Callable[[], None],
        units: UnitRunner | None = None,
    ) -> None:
        super().__init__(engine=engine, clock=clock, units=units)

        def execute(payload: dict[str, Any]) -> None:
            executions.execute(execution_id=int(payload["execution_id"]))
            after()

        self.register(jobs.EXECUTE_ROLLBACK, execute)

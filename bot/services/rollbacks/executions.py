"""Running an approved path, watching the recovery, and the endorsement of the restored state.

``execute`` takes an Execution row from pending to running conditionally (exactly once, even
with two replicas), runs the executor outside any transaction, records the outcome, and
schedules the validation at the end of the path's monitoring window. ``validate`` judges the
validation metric's samples since the execution with the runbook's own criterion, and asks the
endorsing role to press Endorse. The states and what follows which: ``bot.core.rollbacks``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.approvals import RequestState
from bot.core.criteria import evaluate_criterion
from bot.core.drills import DRILL_CONCLUDE
from bot.core.query_evidence import with_reading
from bot.core.rollbacks import (
    EXECUTION,
    RECOMMENDATION,
    VALIDATION,
    ExecutionState,
    RecommendationState,
    ValidationState,
    execution_result,
    recommendation_after_execution,
    recommendation_after_validation,
    validation_outcome,
)
from bot.core.runbook import RollbackPath, Runbook
from bot.core.subjects import recommendation_subject
from bot.core.trail import ACTOR_BOT
from bot.executors import ExecutionOutcome, ExecutionRequest, run_executor
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.clicks import (
    ANOTHER_CHANNEL,
    ANOTHER_MESSAGE,
    MISPLACED_TEXT,
    Clicked,
    misplaced,
)
from bot.services.outbox.jobs import PostRollback
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, resolving_groups, roles_of
from bot.services.rollbacks.contexts import execution_context
from bot.services.rollbacks.journal import minutes_to_recover, record_validation
from bot.services.scheduling import RollbackScheduling
from bot.store import UnitOfWork, advance, session_scope, transition_state
from bot.store.query_readings import latest_readings
from bot.store.samples import recent_samples
from bot.store.tables import (
    ApprovalRequest,
    ApprovalVote,
    Execution,
    RollbackRecommendation,
    row_id,
)
from bot.store.timers import schedule_timer
from bot.store.units import DirectUnits, UnitRunner

Runner = Callable[..., ExecutionOutcome]


@dataclass(frozen=True)
class _Loaded:
    execution: Execution
    recommendation: RollbackRecommendation
    runbook: Runbook
    path: RollbackPath


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
        units: UnitRunner | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.secrets = secrets
        self.clock = clock
        self.scheduling = scheduling
        self.runner = runner
        self.units = units if units is not None else DirectUnits(engine)
        # (runbook id, metric, now): asks a query-backed validation metric's query once more
        # at the window's end, so the validation sees its answer then (bootstrap sets it).
        self.poll_first: Callable[[str, str, datetime], object] | None = None

    def _load(self, session: Session, execution_id: int) -> _Loaded | None:
        execution = session.get(Execution, execution_id)
        recommendation = (
            session.get(RollbackRecommendation, execution.recommendation_id) if execution else None
        )
        runbook = self.runbooks.get(recommendation.runbook_id) if recommendation else None
        path = runbook.path(execution.path_id) if runbook and execution else None
        if execution is None or recommendation is None or runbook is None or path is None:
            return None
        return _Loaded(execution, recommendation, runbook, path)

    def execute(self, *, execution_id: int) -> bool:
        started = self.units.run(lambda uow: self._start(uow, execution_id))
        if started is None:
            return False  # someone else runs it, or it already ran
        loaded, request, approvers = started
        outcome = self.runner(
            loaded.path.executor, request=request, secrets=self.secrets, clock=self.clock
        )
        finished = self.clock()
        state = execution_result(outcome.outcome)
        self.units.run(
            lambda uow: self._finish(uow, loaded, outcome, approvers, state=state, at=finished)
        )
        drill = loaded.recommendation.drill_run_id is not None  # validated by the drill itself
        if state is ExecutionState.SUCCEEDED and self.scheduling is not None and not drill:
            window = loaded.path.validation.window
            self.scheduling.schedule_validation(execution_id=execution_id, at=finished + window)
        return True

    def _start(
        self, uow: UnitOfWork, execution_id: int
    ) -> tuple[_Loaded, ExecutionRequest, list[str]] | None:
        now = self.clock()
        loaded = self._load(uow.session, execution_id)
        if loaded is None or not advance(
            uow.session, model=Execution, row_id=execution_id, lifecycle=EXECUTION,
            to_state=ExecutionState.RUNNING, now=now, values={"started_at": now, "attempts": 1},
        ):  # fmt: skip
            return None
        recommendation = loaded.recommendation
        approvers = [
            vote.user_id
            for vote in uow.session.exec(
                select(ApprovalVote)
                .join(ApprovalRequest, col(ApprovalVote.request_id) == ApprovalRequest.id)
                .where(
                    ApprovalRequest.recommendation_id == recommendation.id,
                    ApprovalRequest.state == RequestState.APPROVED,
                    ApprovalVote.decision == "approve",
                )
            ).all()
        ]
        request = ExecutionRequest(
            runbook_id=loaded.runbook.id,
            runbook_version=loaded.runbook.version,
            path_id=loaded.path.id,
            rollback_id=str(recommendation.id),
            severity=str(recommendation.trigger.get("severity", "")),
            idempotency_key=loaded.execution.idempotency_key,
            requested_by=recommendation.requested_by,
            approved_by=approvers,
            drill=recommendation.drill_run_id is not None,
        )
        return loaded, request, approvers

    def _finish(
        self,
        uow: UnitOfWork,
        loaded: _Loaded,
        outcome: ExecutionOutcome,
        approvers: list[str],
        *,
        state: ExecutionState,
        at: datetime,
    ) -> None:
        runbook, path, recommendation = loaded.runbook, loaded.path, loaded.recommendation
        succeeded = state is ExecutionState.SUCCEEDED
        advance(
            uow.session, model=Execution, row_id=row_id(loaded.execution), lifecycle=EXECUTION,
            to_state=state, now=at,
            values={
                "finished_at": at,
                "attempts": outcome.attempts,
                "result": _result(outcome),
                "error": None if succeeded else outcome.detail,
                "validation_state": VALIDATION.initial.value if succeeded else None,
            },
        )  # fmt: skip
        advance(
            uow.session, model=RollbackRecommendation, row_id=row_id(recommendation),
            lifecycle=RECOMMENDATION, to_state=recommendation_after_execution(state),
            from_states=[RecommendationState.APPROVED], now=at,
        )  # fmt: skip
        uow.trail(
            kind="rollback.executed",
            actor=ACTOR_BOT,
            subject=recommendation_subject(recommendation),
            at=at,
            channel_id=recommendation.channel_id,
            thread_ts=recommendation.conversation_ts,
            payload={
                "execution_id": loaded.execution.id,
                "path": path.id,
                "executor": path.executor.type,
                **_result(outcome),
            },
        )
        context = execution_context(runbook, path, recommendation, outcome, approvers)
        job = PostRollback(
            recommendation_id=row_id(recommendation), template="execution_result", context=context
        )
        uow.enqueue(job, now=at)
        if recommendation.drill_run_id is not None:  # the drill validates its dry run, reports
            schedule_timer(
                uow.session, kind=DRILL_CONCLUDE, key=f"drill:{recommendation.drill_run_id}",
                due_at=at, now=at,
            )  # fmt: skip

    def validate(self, *, execution_id: int) -> bool:
        now = self.clock()
        if self.poll_first is not None:  # network first, outside the validation's unit
            with session_scope(self.engine) as session:
                loaded = self._load(session, execution_id)
            watching = loaded is not None and (
                loaded.execution.validation_state == ValidationState.WATCHING
            )
            if loaded is not None and watching:
                criterion = loaded.runbook.criterion(loaded.path.validation.metric)
                if criterion is not None and criterion.query is not None:
                    self.poll_first(loaded.runbook.id, criterion.metric, now)
        return self.units.run(lambda uow: self._validate(uow, execution_id, now=now))

    def _validate(self, uow: UnitOfWork, execution_id: int, *, now: datetime) -> bool:
        loaded = self._load(uow.session, execution_id)
        if loaded is None or loaded.execution.validation_state != ValidationState.WATCHING:
            return False
        execution, recommendation, runbook, path = (
            loaded.execution, loaded.recommendation, loaded.runbook, loaded.path,
        )  # fmt: skip
        criterion = runbook.criterion(path.validation.metric)
        assert criterion is not None and execution.started_at is not None
        samples = recent_samples(
            uow.session, runbook_id=runbook.id, since=execution.started_at,
            metrics=[criterion.metric],
        )  # fmt: skip
        evaluation = evaluate_criterion(criterion, samples, now)
        if criterion.query is not None:  # the window was polled: show the query's answer
            reading = latest_readings(uow.session, runbook_id=runbook.id).get(criterion.metric)
            evaluation = with_reading(evaluation, reading)
        outcome = validation_outcome(evaluation.state)
        result = dict(execution.result)
        minutes = minutes_to_recover(criterion, samples, since=execution.started_at)
        if outcome is ValidationState.RECOVERED and minutes is not None:
            result["minutes_to_recover"] = minutes
        # The execution stays succeeded; only its validation moves (once: the condition).
        if not transition_state(
            uow.session, model=Execution, row_id=execution_id,
            from_states=[ExecutionState.SUCCEEDED.value], to_state=ExecutionState.SUCCEEDED.value,
            now=now, values={"validation_state": outcome.value, "result": result},
        ):  # fmt: skip
            return False
        advance(
            uow.session, model=RollbackRecommendation, row_id=row_id(recommendation),
            lifecycle=RECOMMENDATION, to_state=recommendation_after_validation(outcome),
            from_states=[RecommendationState.EXECUTED], now=now,
        )  # fmt: skip
        record_validation(
            uow, runbook=runbook, path=path, recommendation=recommendation, criterion=criterion,
            execution_id=execution_id, evaluation=evaluation, samples=samples, result=result,
            outcome=outcome, now=now,
        )  # fmt: skip
        return True

    def endorse(
        self, *, request_id: int, user_id: str, now: datetime, clicked: Clicked | None = None
    ) -> Reply:
        def attempt(groups: GroupDirectory) -> Reply:
            return self.units.run(
                lambda uow: self._endorse(
                    uow, request_id, user_id=user_id, groups=groups, now=now, clicked=clicked
                )
            )

        return resolving_groups(self.directory, attempt)

    def _endorse(
        self, uow: UnitOfWork, request_id: int, *, user_id: str, groups: GroupDirectory,
        now: datetime, clicked: Clicked | None,
    ) -> Reply:  # fmt: skip
        session = uow.session
        request = session.get(ApprovalRequest, request_id)
        execution = session.exec(
            select(Execution).where(
                Execution.recommendation_id == (request.recommendation_id if request else -1)
            )
        ).first()
        loaded = self._load(session, row_id(execution)) if execution else None
        if request is None or loaded is None:
            if request is not None:  # asked on a rollback that has not run: kept all the same
                _refuse_endorsement(
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
            _refuse_endorsement(
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
        ):  # fmt: skip
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


def _refuse_endorsement(
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


def _result(outcome: ExecutionOutcome) -> dict[str, Any]:
    return {
        "outcome": outcome.outcome,
        "attempts": outcome.attempts,
        "duration_seconds": round(outcome.duration_seconds, 3),
        "detail": outcome.detail,
        "target": outcome.target,
        "output_excerpt": outcome.output_excerpt,
    }

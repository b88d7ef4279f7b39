"""Running an approved path, watching the recovery, and the endorsement of the restored state.

``execute`` takes an Execution row from pending to running conditionally (exactly once, even
with two replicas), runs the executor outside any transaction, records the outcome, and
schedules the validation at the end of the path's monitoring window. ``validate`` judges the
validation metric's samples since the execution with the runbook's own criterion, and asks the
endorsing role to press Endorse. The states and what follows which: ``bot.core.rollbacks``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
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
from bot.services.approvals.clicks import Clicked
from bot.services.due_work import EXECUTION_RUN, InFlight, execution_key, plan_validation
from bot.services.outbox.jobs import PostRollback
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, resolving_groups
from bot.services.rollbacks.contexts import execution_context
from bot.services.rollbacks.endorsement import endorse_in
from bot.services.rollbacks.journal import minutes_to_recover, record_validation
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
from bot.store.timers import LEASE, Timer, finish_timer, schedule_timer, start_timer
from bot.store.units import DirectUnits, UnitRunner

Runner = Callable[..., ExecutionOutcome]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    execution: Execution
    recommendation: RollbackRecommendation
    runbook: Runbook
    path: RollbackPath


class ExecutionTakenOver(Exception):
    """This replica's claim on a running execution ran out and another took it over."""


class ExecutionService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
        secrets: Mapping[str, str],
        clock: Callable[[], datetime],
        runner: Runner = run_executor,
        units: UnitRunner | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.secrets = secrets
        self.clock = clock
        self.runner = runner
        self.units = units if units is not None else DirectUnits(engine)
        self.in_flight = in_flight
        # (runbook id, metric, now): asks a query-backed validation metric's query once more
        # at the window's end, so the validation sees its answer then (bootstrap sets it).
        self.poll_first: Callable[[str, str, datetime], object] | None = None

    def load(self, session: Session, execution_id: int) -> Loaded | None:
        execution = session.get(Execution, execution_id)
        recommendation = (
            session.get(RollbackRecommendation, execution.recommendation_id) if execution else None
        )
        runbook = self.runbooks.get(recommendation.runbook_id) if recommendation else None
        path = runbook.path(execution.path_id) if runbook and execution else None
        if execution is None or recommendation is None or runbook is None or path is None:
            return None
        return Loaded(execution, recommendation, runbook, path)

    def execute(self, *, execution_id: int) -> bool:
        """Run a pending execution here, once: moved to running together with a timer this
        replica claims (``execution.run``) and keeps renewed while the executor runs, so that
        if this process dies another replica takes the execution over within one lease
        (``bot.services.rollbacks.in_flight``)."""
        started = self.units.run(lambda uow: self._start(uow, execution_id))
        if started is None:
            return False  # someone else runs it, or it already ran
        loaded, request, approvers, timer = started
        with self._holding(timer):
            outcome = self.runner(
                loaded.path.executor, request=request, secrets=self.secrets, clock=self.clock
            )
        finished = self.clock()
        state = execution_result(outcome.outcome)

        def finish(uow: UnitOfWork) -> None:
            if not finish_timer(uow.session, timer=timer, now=finished):
                raise ExecutionTakenOver(f"execution {execution_id} was taken over")
            self.record_outcome(uow, loaded, outcome, approvers, state=state, at=finished)

        try:
            self.units.run(finish)
        except ExecutionTakenOver:  # the replica that took it over records it
            log.warning("execution %s was taken over while it ran here; not recorded here",
                        execution_id)  # fmt: skip
            return False
        return True

    def _holding(self, timer: Timer) -> AbstractContextManager[None]:
        return self.in_flight.holding(timer) if self.in_flight is not None else nullcontext()

    def _start(
        self, uow: UnitOfWork, execution_id: int
    ) -> tuple[Loaded, ExecutionRequest, list[str], Timer] | None:
        now = self.clock()
        loaded = self.load(uow.session, execution_id)
        if loaded is None or not advance(
            uow.session, model=Execution, row_id=execution_id, lifecycle=EXECUTION,
            to_state=ExecutionState.RUNNING, now=now, values={"started_at": now, "attempts": 1},
        ):  # fmt: skip
            return None
        replica, lease = (
            (self.in_flight.replica, self.in_flight.lease) if self.in_flight else ("-", LEASE)
        )
        timer = start_timer(
            uow.session, kind=EXECUTION_RUN, key=execution_key(execution_id), now=now,
            replica=replica, lease=lease,
        )  # fmt: skip
        request, approvers = self.request_of(uow, loaded)
        return loaded, request, approvers, timer

    def request_of(self, uow: UnitOfWork, loaded: Loaded) -> tuple[ExecutionRequest, list[str]]:
        """What the executor is sent (the same on a retry: same ``Idempotency-Key``), and who
        approved."""
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
        return request, approvers

    def record_outcome(
        self,
        uow: UnitOfWork,
        loaded: Loaded,
        outcome: ExecutionOutcome,
        approvers: list[str],
        *,
        state: ExecutionState,
        at: datetime,
        retry: bool = False,
    ) -> bool:
        """Record the executor's outcome, once (False: it was already recorded)."""
        runbook, path, recommendation = loaded.runbook, loaded.path, loaded.recommendation
        succeeded = state is ExecutionState.SUCCEEDED
        if not advance(
            uow.session, model=Execution, row_id=row_id(loaded.execution), lifecycle=EXECUTION,
            to_state=state, now=at,
            values={
                "finished_at": at,
                "attempts": outcome.attempts,
                "result": _result(outcome),
                "error": None if succeeded else outcome.detail,
                # a drill's dry run is validated by the drill, never watched on live samples
                "validation_state": VALIDATION.initial.value
                if succeeded and recommendation.drill_run_id is None else None,
            },
            from_states=[ExecutionState.RUNNING],
        ):  # fmt: skip
            return False
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
                **({"retried_after_crash": True} if retry else {}),
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
        elif succeeded:
            plan_validation(
                uow, execution_id=row_id(loaded.execution), at=at + path.validation.window, now=at
            )
        return True

    def validate(self, *, execution_id: int, now: datetime | None = None) -> bool:
        at = now if now is not None else self.clock()
        if self.poll_first is not None:  # network first, outside the validation's unit
            with session_scope(self.engine) as session:
                loaded = self.load(session, execution_id)
            watching = loaded is not None and (
                loaded.execution.validation_state == ValidationState.WATCHING
            )
            if loaded is not None and watching:
                criterion = loaded.runbook.criterion(loaded.path.validation.metric)
                if criterion is not None and criterion.query is not None:
                    self.poll_first(loaded.runbook.id, criterion.metric, at)
        return self.units.run(lambda uow: self._validate(uow, execution_id, now=at))

    def _validate(self, uow: UnitOfWork, execution_id: int, *, now: datetime) -> bool:
        loaded = self.load(uow.session, execution_id)
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
            only_if={"validation_state": ValidationState.WATCHING.value},
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
                lambda uow: endorse_in(
                    uow, self.load, request_id, user_id=user_id, groups=groups, now=now,
                    clicked=clicked,
                )
            )

        return resolving_groups(self.directory, attempt)


def _result(outcome: ExecutionOutcome) -> dict[str, Any]:
    return {
        "outcome": outcome.outcome,
        "attempts": outcome.attempts,
        "duration_seconds": round(outcome.duration_seconds, 3),
        "detail": outcome.detail,
        "target": outcome.target,
        "output_excerpt": outcome.output_excerpt,
    }

"""An execution whose process died while it ran: taken over, never left silent.

``ExecutionService.execute`` runs an executor under an ``execution.run`` timer that its
replica claimed itself and keeps renewed. If that replica dies (kill -9, a lost machine), the
renewals stop and, one lease later, another replica's timer worker claims the timer and calls
``resume``, which finds the execution still ``running`` and either

- runs it again, with the very same request and ``Idempotency-Key``, when that is safe: a
  webhook (receivers honour the key), a dry run, or a command the runbook declares
  ``idempotent: true``; the outcome is recorded as usual, marked ``retried_after_crash``,
  and the thread says it was run again; or
- for a command not declared idempotent, does not run it again: the execution becomes
  ``unknown``, the recommendation ``failed``, and the trail (``rollback.execution_unknown``)
  and the thread say "outcome unknown, check by hand".

Either way the record is returned to the timer worker, which commits it with the timer's
completion, only while its claim holds: done once, however many replicas try.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.core.rollbacks import (
    EXECUTION,
    RECOMMENDATION,
    ExecutionState,
    RecommendationState,
    execution_result,
)
from bot.core.runbook import CommandExecutor
from bot.core.trail import ACTOR_BOT
from bot.executors import ExecutionRequest
from bot.render.escaping import mrkdwn_text as esc
from bot.services.outbox.jobs import PostRollback
from bot.services.rollbacks.executions import ExecutionService, Loaded
from bot.store import UnitOfWork, advance
from bot.store.tables import Execution, RollbackRecommendation, row_id

Record = Callable[[UnitOfWork], object]


def safe_to_rerun(loaded: Loaded) -> bool:
    """A drill's or a dry run's execution calls nothing; a webhook carries its key."""
    if loaded.execution.dry_run or loaded.recommendation.drill_run_id is not None:
        return True
    executor = loaded.path.executor
    return not isinstance(executor, CommandExecutor) or executor.idempotent


def resume(executions: ExecutionService, *, execution_id: int, now: datetime) -> Record | None:
    """The handler's work for a taken-over ``execution.run`` timer (see the module)."""

    def running(uow: UnitOfWork) -> tuple[Loaded, ExecutionRequest, list[str]] | None:
        loaded = executions.load(uow.session, execution_id)
        if loaded is None or loaded.execution.state != ExecutionState.RUNNING:
            return None  # recorded already (its record committed with the timer's end)
        return (loaded, *executions.request_of(uow, loaded))

    found = executions.units.run(running)
    if found is None:
        return None
    loaded, request, approvers = found
    if not safe_to_rerun(loaded):
        return lambda uow: report_unknown(uow, loaded, now=now)
    outcome = executions.runner(
        loaded.path.executor, request=request, secrets=executions.secrets, clock=executions.clock
    )
    finished = executions.clock()

    def record(uow: UnitOfWork) -> None:
        if executions.record_outcome(
            uow, loaded, outcome, approvers, state=execution_result(outcome.outcome),
            at=finished, retry=True,
        ):  # fmt: skip
            text = (
                f"🔁 The process running this rollback stopped before it finished; "
                f"`{esc(loaded.path.id)}` was run again with the same Idempotency-Key "
                f"`{esc(request.idempotency_key)}`."
            )
            job = PostRollback(recommendation_id=row_id(loaded.recommendation), text=text)
            uow.enqueue(job, now=finished)

    return record


def report_unknown(uow: UnitOfWork, loaded: Loaded, *, now: datetime) -> bool:
    """Not safe to run again: say so in the trail and the thread, once."""
    execution, recommendation, path = loaded.execution, loaded.recommendation, loaded.path
    why = (
        "the process running it stopped before it finished, and its command executor is "
        "not declared idempotent in the runbook, so it was not run again"
    )
    if not advance(
        uow.session, model=Execution, row_id=row_id(execution), lifecycle=EXECUTION,
        to_state=ExecutionState.UNKNOWN, from_states=[ExecutionState.RUNNING], now=now,
        values={"finished_at": now, "error": f"outcome unknown: {why}",
                "result": {"outcome": "unknown", "detail": why}},
    ):  # fmt: skip
        return False
    advance(
        uow.session, model=RollbackRecommendation, row_id=row_id(recommendation),
        lifecycle=RECOMMENDATION, to_state=RecommendationState.FAILED,
        from_states=[RecommendationState.APPROVED], now=now,
    )  # fmt: skip
    uow.trail(
        kind="rollback.execution_unknown",
        actor=ACTOR_BOT,
        subject=f"rollback:{recommendation.id}",
        at=now,
        channel_id=recommendation.channel_id,
        thread_ts=recommendation.conversation_ts,
        payload={
            "execution_id": execution.id,
            "path": path.id,
            "executor": path.executor.type,
            "idempotency_key": execution.idempotency_key,
            "started_at": execution.started_at.isoformat() if execution.started_at else None,
            "why": why,
        },
    )
    text = (
        f"⚠️ Outcome unknown, check by hand: `{esc(path.id)}` was running when the process "
        f"running it stopped. Its command is not declared `idempotent: true` in the runbook, "
        f"so it was not run again. Check whether it took effect "
        f"(Idempotency-Key `{esc(execution.idempotency_key)}`)."
    )
    uow.enqueue(PostRollback(recommendation_id=row_id(recommendation), text=text), now=now)
    return True

"""An execution whose replica stopped renewing its ``execution.run`` timer is taken over by
another replica's worker, one lease later, on SQLite and PostgreSQL: a command declared
``idempotent: true`` is run again with the same request, one that is not is reported
"outcome unknown"; either is recorded once. (The kill -9 versions, with real `serve`
processes: ``tests/slack/test_execution_crash.py``.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.executors import ExecutionOutcome, ExecutionRequest
from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.worker import TimerWorker
from bot.services.rollbacks.executions import ExecutionService
from bot.store import TrailEventRow, read_connection, session_scope
from bot.store.tables import ApprovalRequest, Execution, RollbackRecommendation, row_id
from bot.store.timers import LEASE
from bot.store.transitions import table_of
from bot.store.units import DirectUnits
from tests.scheduler.test_due_work import jobs
from tests.slack.support import copy_runbooks

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ARGV = 'argv: ["deployctl", "rollback", "ranking-model", "--to", "previous"]'


class Runner:
    """The executor, as the services call it: records each request."""

    def __init__(self) -> None:
        self.requests: list[ExecutionRequest] = []

    def __call__(self, executor: Any, *, request: ExecutionRequest, **_: Any) -> ExecutionOutcome:
        self.requests.append(request)
        return ExecutionOutcome(
            outcome="succeeded", attempts=1, started_at=NOW, finished_at=NOW,
            duration_seconds=0.1, output_excerpt=None, detail="ok", target="deployctl",
        )  # fmt: skip


def registry(tmp_path: Path, idempotent: bool) -> RunbookRegistry:
    extra = f"\n      idempotent: {str(idempotent).lower()}"
    found = load_runbooks(copy_runbooks(tmp_path, {"ranking-model.yaml": (ARGV, ARGV + extra)}))
    assert not found.problems
    return RunbookRegistry(found.runbooks)


def approved_execution(engine: Engine, *, dry_run: bool = False) -> int:
    with session_scope(engine) as session:
        recommendation = RollbackRecommendation(
            runbook_id="ranking-model", runbook_version=1, path_id="previous-model",
            state="approved", requested_by="monitoring", channel_id="C0RANKREL",
            message_ts="1.0", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add(recommendation)
        session.flush()
        session.add(ApprovalRequest(
            subject=f"rollback:{recommendation.id}", action="rollback",
            recommendation_id=recommendation.id, path_id="previous-model",
            requested_by="monitoring", state="approved", channel_id="C0RANKREL",
            created_at=NOW, updated_at=NOW,
        ))  # fmt: skip
        execution = Execution(
            recommendation_id=row_id(recommendation), idempotency_key="rollback-1-request-1",
            path_id="previous-model", executor="command", dry_run=dry_run,
            created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add(execution)
        session.flush()
        return row_id(execution)


def trail_kinds(engine: Engine) -> list[str]:
    events = table_of(TrailEventRow)
    with read_connection(engine) as connection:
        return list(connection.execute(select(events.c.kind).order_by(events.c.seq)).scalars())


@pytest.mark.parametrize(("idempotent", "dry_run"), [(True, False), (False, False), (False, True)])
def test_a_running_execution_whose_replica_died_is_taken_over_once(
    engine: Engine, tmp_path: Path, idempotent: bool, dry_run: bool
) -> None:
    """A dry run (a drill's) calls nothing, so it is always run again."""
    runbooks = registry(tmp_path, idempotent)
    execution_id = approved_execution(engine, dry_run=dry_run)
    runner = Runner()
    dead = ExecutionService(
        engine=engine, runbooks=runbooks, directory=None, secrets={},  # type: ignore[arg-type]
        clock=lambda: NOW, runner=runner,
    )  # fmt: skip
    # Replica a starts the execution, then dies before its executor answers.
    started = DirectUnits(engine).run(lambda uow: dead._start(uow, execution_id))
    assert started is not None
    runner.requests.append(started[1])  # the call that was in flight

    bound = jobs(engine, runbooks)
    bound.executions.runner = runner
    bound.executions.clock = lambda: NOW
    b = TimerWorker(engine=engine, clock=lambda: NOW, replica="b")
    bound.register(b)
    assert b.run_due(NOW + LEASE - timedelta(seconds=1)) == 0  # a's lease still holds
    assert b.run_due(NOW + LEASE + timedelta(seconds=1)) == 1
    assert b.run_due(NOW + LEASE * 3) == 0  # done: nothing runs it a third time

    with session_scope(engine) as session:
        execution = session.get(Execution, execution_id)
        assert execution is not None
    kinds = trail_kinds(engine)
    if idempotent or dry_run:
        assert [r.idempotency_key for r in runner.requests] == ["rollback-1-request-1"] * 2
        assert runner.requests[0] == runner.requests[1]
        assert execution.state == "succeeded" and kinds.count("rollback.executed") == 1
    else:
        assert len(runner.requests) == 1  # never run again
        assert execution.state == "unknown"
        assert kinds == ["rollback.execution_unknown"]

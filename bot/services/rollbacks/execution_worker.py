"""The worker that runs approved paths from the outbox, apart from Slack delivery so that
neither waits for the other (an executor may take a minute; a post takes milliseconds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from bot.services.outbox.jobs import ExecuteRollback
from bot.services.outbox.worker import JobWorker
from bot.services.rollbacks.executions import ExecutionService
from bot.store.units import UnitRunner


class ExecutionWorker(JobWorker):
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

        def execute(job: ExecuteRollback) -> None:
            executions.execute(execution_id=job.execution_id)
            after()

        self.register(ExecuteRollback, execute)

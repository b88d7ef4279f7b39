"""The scheduler of one process: this process's ``TimerWorker`` and the handlers of the
reviews' and rollbacks' timers. Any number of replicas may run one on the same database:
each due timer is claimed by one of them.

The services plan their timers themselves, inside the unit of work that decides them
(``bot.services.due_work``), so a decision and its timers commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from bot.clock import Clock
from bot.scheduler import handlers
from bot.scheduler.metrics import TimerMetrics
from bot.scheduler.worker import TimerWorker, default_replica_id
from bot.store import read_connection
from bot.store.timers import timers_of
from bot.store.units import DirectUnits, UnitRunner

if TYPE_CHECKING:
    from bot.services.approvals.engine import ApprovalEngine
    from bot.services.releases.reviews import ReviewService
    from bot.services.rollbacks.decisions import RollbackDecisions
    from bot.services.rollbacks.executions import ExecutionService


class ReleaseScheduler:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        units: UnitRunner | None = None,
        registry: CollectorRegistry | None = None,
        replica: str | None = None,
        **worker_options: Any,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.units: UnitRunner = units if units is not None else DirectUnits(engine)
        self.replica = replica or default_replica_id()
        self.worker = TimerWorker(
            engine=engine, clock=clock, replica=self.replica, units=self.units, **worker_options
        )
        if registry is not None:
            self.worker.observer = TimerMetrics(
                registry, replica=self.replica, engine=engine, kinds=self.worker.kinds, clock=clock
            )

    def bind(
        self,
        *,
        reviews: ReviewService,
        approvals: ApprovalEngine,
        decisions: RollbackDecisions,
        executions: ExecutionService,
        after: Callable[[], None],
    ) -> None:
        """Register the handlers of the reviews' and rollbacks' timers; ``after`` wakes the
        workers that deliver what they queue."""
        handlers.ReleaseJobs(
            reviews=reviews,
            approvals=approvals,
            decisions=decisions,
            executions=executions,
            units=self.units,
            after=after,
        ).register(self.worker)

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def run_due(self, now: datetime) -> int:
        """Run every timer due at ``now`` on this thread (tests with a controllable clock)."""
        return self.worker.run_due(now)

    def open_timers(self) -> list[tuple[str, str]]:
        """(kind, key) of every timer still to run, earliest first."""
        with read_connection(self.engine) as connection:
            return [(row.kind, row.key) for row in timers_of(connection, open_only=True)]

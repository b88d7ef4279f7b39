"""The scheduler of one process: what the services ask for, planned as timers.

``ReleaseScheduler`` implements the services' scheduling protocols
(``bot.services.scheduling``: ``RollbackScheduling``, ``ReviewScheduling``) on
timers (``bot.store.timers``) and runs this process's ``TimerWorker``. Any number of
replicas may run one on the same database: each due timer is claimed by one of them.

The services call it after their own commit, so each method plans in a transaction of its
own; code that plans work as part of a decision calls ``schedule_timer`` in the decision's
transaction instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from bot.clock import Clock
from bot.scheduler import handlers
from bot.scheduler.metrics import TimerMetrics
from bot.scheduler.queries import GATE_CHECK, GATE_CHECK_EVERY
from bot.scheduler.worker import TimerWorker, default_replica_id
from bot.store import read_connection
from bot.store.timers import cancel_timers, schedule_timer, timers_of
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

    # --- what the services ask for ----------------------------------------------------------

    def _plan(
        self, kind: str, key: str, at: datetime, repeat_every: timedelta | None = None
    ) -> None:
        # Its worker is woken when this commits, should the timer be due soon.
        now = self.clock()
        self.units.run(
            lambda uow: schedule_timer(
                uow.session, kind=kind, key=key, due_at=at, repeat_every=repeat_every, now=now
            )
        )

    def schedule_expiry(self, *, request_id: int, at: datetime) -> None:
        self._plan(handlers.REQUEST_EXPIRE, f"request:{request_id}", at)

    def schedule_escalation(self, *, request_id: int, at: datetime) -> None:
        self._plan(handlers.REQUEST_ESCALATE, f"request:{request_id}", at)

    def schedule_auto_execute(self, *, request_id: int, at: datetime) -> None:
        self._plan(handlers.REQUEST_AUTO_EXECUTE, f"request:{request_id}", at)

    def schedule_validation(self, *, execution_id: int, at: datetime) -> None:
        self._plan(handlers.EXECUTION_VALIDATE, f"execution:{execution_id}", at)

    def schedule_reminders(self, *, review_id: int, every: timedelta, start: datetime) -> None:
        self._plan(handlers.REVIEW_REMIND, f"review:{review_id}", start + every, repeat_every=every)

    def schedule_gate_checks(self, *, review_id: int, start: datetime) -> None:
        self._plan(GATE_CHECK, f"review:{review_id}", start, repeat_every=GATE_CHECK_EVERY)

    def cancel_reminders(self, *, review_id: int) -> None:
        now = self.clock()
        self.units.run(
            lambda uow: cancel_timers(
                uow.session, kind=handlers.REVIEW_REMIND, key=f"review:{review_id}", now=now
            )
        )

    def open_timers(self) -> list[tuple[str, str]]:
        """(kind, key) of every timer still to run, earliest first."""
        with read_connection(self.engine) as connection:
            return [(row.kind, row.key) for row in timers_of(connection, open_only=True)]

"""The scheduler of one process: APScheduler with its jobs in the bot's database.

Jobs survive a restart (the SQLAlchemy job store), run late rather than never after
downtime (no misfire grace limit, coalesced), and are idempotent: expiring or reminding
twice, from two replicas, changes nothing the second time because every state change is
conditional.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from bot.clock import Clock
from bot.scheduler import jobs

if TYPE_CHECKING:
    from bot.services.approvals.engine import ApprovalEngine
    from bot.services.outbox.worker import JobWorker
    from bot.services.releases.reviews import ReviewService
    from bot.services.rollbacks.decisions import RollbackDecisions
    from bot.services.rollbacks.executions import ExecutionService

SWEEP_EVERY = timedelta(seconds=30)
JOB_TABLE = "apscheduler_jobs"


class SharedEngineJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # untyped library
    """APScheduler's SQLAlchemy job store on an engine it borrows.

    The stock store disposes its engine when the scheduler shuts down. Here the engine is the
    bot's own, and the scheduler stops first: disposing it then cut the connections the other
    workers (the group commit's writer, the outbox) still held loose from the pool, and they
    were never closed (psycopg's "deleted while still open"). The runtime disposes it last.
    """

    def shutdown(self) -> None:
        pass


class ReleaseScheduler:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.key = engine.url.render_as_string(hide_password=True)
        self._reviews: ReviewService | None = None
        self._approvals: ApprovalEngine | None = None
        self._decisions: RollbackDecisions | None = None
        self._executions: ExecutionService | None = None
        self._workers: list[JobWorker] = []
        self._scheduler = BackgroundScheduler(
            jobstores={"default": SharedEngineJobStore(engine=engine, tablename=JOB_TABLE)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone="UTC",
        )

    def bind(
        self,
        *,
        reviews: ReviewService,
        approvals: ApprovalEngine,
        decisions: RollbackDecisions,
        executions: ExecutionService,
        workers: list[JobWorker],
    ) -> None:
        self._reviews = reviews
        self._approvals = approvals
        self._decisions = decisions
        self._executions = executions
        self._workers = workers

    def reviews(self) -> ReviewService:
        assert self._reviews is not None, "bind() the scheduler before starting it"
        return self._reviews

    def approvals(self) -> ApprovalEngine:
        assert self._approvals is not None, "bind() the scheduler before starting it"
        return self._approvals

    def decisions(self) -> RollbackDecisions:
        assert self._decisions is not None, "bind() the scheduler before starting it"
        return self._decisions

    def executions(self) -> ExecutionService:
        assert self._executions is not None, "bind() the scheduler before starting it"
        return self._executions

    def wake_delivery(self) -> None:
        for worker in self._workers:
            worker.wake()

    def start(self) -> None:
        jobs.bind(self.key, self)
        self._scheduler.start()
        self._scheduler.add_job(
            "bot.scheduler.jobs:sweep",
            "interval",
            seconds=SWEEP_EVERY.total_seconds(),
            args=[self.key],
            id="sweep",
            replace_existing=True,
        )

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        jobs.unbind(self.key, self)

    # --- what the services ask for ----------------------------------------------------------

    def schedule_expiry(self, *, request_id: int, at: datetime) -> None:
        self._scheduler.add_job(
            "bot.scheduler.jobs:expire_request",
            "date",
            run_date=at,
            args=[self.key, request_id],
            id=f"expire-request-{request_id}",
            replace_existing=True,
        )

    def _at(self, function: str, job_id: str, at: datetime, *args: object) -> None:
        self._scheduler.add_job(
            f"bot.scheduler.jobs:{function}",
            "date",
            run_date=at,
            args=[self.key, *args],
            id=job_id,
            replace_existing=True,
        )

    def schedule_escalation(self, *, request_id: int, at: datetime) -> None:
        self._at("escalate_request", f"escalate-request-{request_id}", at, request_id)

    def schedule_auto_execute(self, *, request_id: int, at: datetime) -> None:
        self._at("auto_execute", f"auto-execute-{request_id}", at, request_id)

    def schedule_validation(self, *, execution_id: int, at: datetime) -> None:
        self._at("validate_execution", f"validate-execution-{execution_id}", at, execution_id)

    def schedule_reminders(self, *, review_id: int, every: timedelta, start: datetime) -> None:
        self._scheduler.add_job(
            "bot.scheduler.jobs:remind_review",
            "interval",
            seconds=every.total_seconds(),
            start_date=start + every,
            args=[self.key, review_id],
            id=f"remind-review-{review_id}",
            replace_existing=True,
        )

    def cancel_reminders(self, *, review_id: int) -> None:
        try:
            self._scheduler.remove_job(f"remind-review-{review_id}")
        except JobLookupError:
            pass

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

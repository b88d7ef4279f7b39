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
    from bot.services.reviews import ReviewService
    from bot.slack.delivery import SlackDelivery

SWEEP_EVERY = timedelta(seconds=30)
JOB_TABLE = "apscheduler_jobs"


class ReleaseScheduler:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.key = engine.url.render_as_string(hide_password=True)
        self._reviews: ReviewService | None = None
        self._delivery: SlackDelivery | None = None
        self._scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone="UTC",
        )

    def bind(self, *, reviews: ReviewService, delivery: SlackDelivery) -> None:
        self._reviews = reviews
        self._delivery = delivery

    def reviews(self) -> ReviewService:
        assert self._reviews is not None, "bind() the scheduler before starting it"
        return self._reviews

    def wake_delivery(self) -> None:
        if self._delivery is not None:
            self._delivery.wake()

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

"""Upgrading to timers keeps what APScheduler had planned: its one-off jobs (and review
reminders, with their interval) become timers, and leave APScheduler's table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from bot.store import make_engine, read_connection
from bot.store.migrate import upgrade_database
from bot.store.timers import timers_of

DUE = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_apschedulers_planned_jobs_become_timers(database_url: str) -> None:
    upgrade_database(database_url, "0004_outbox_open_jobs")
    engine = make_engine(database_url)
    try:
        # What the previous version left behind, written by APScheduler itself (the job's
        # function does not matter to the migration: only its id, time and trigger do).
        store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
        old = BackgroundScheduler(jobstores={"default": store}, timezone="UTC")
        old.start(paused=True)
        for job_id, offset in (
            ("expire-request-1", 0),
            ("escalate-request-2", 1),
            ("auto-execute-3", 2),
            ("validate-execution-4", 3),
        ):
            old.add_job(
                "builtins:print", "date", run_date=DUE + timedelta(minutes=offset), id=job_id
            )
        old.add_job(
            "builtins:print",
            "interval",
            seconds=3600,
            start_date=DUE,
            next_run_time=DUE + timedelta(hours=1),
            id="remind-review-5",
        )
        old.add_job("builtins:print", "interval", seconds=30, id="sweep")
        old.shutdown(wait=False)

        upgrade_database(database_url)
        with read_connection(engine) as connection:
            timers = timers_of(connection)
            left = connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
    finally:
        engine.dispose()
    assert [(t.kind, t.key, t.due_at, t.repeat_seconds, t.state) for t in timers] == [
        ("request.expire", "request:1", DUE, None, "pending"),
        ("request.escalate", "request:2", DUE + timedelta(minutes=1), None, "pending"),
        ("request.auto_execute", "request:3", DUE + timedelta(minutes=2), None, "pending"),
        ("execution.validate", "execution:4", DUE + timedelta(minutes=3), None, "pending"),
        ("review.remind", "review:5", DUE + timedelta(hours=1), 3600.0, "pending"),
    ]
    assert left == ["sweep"]  # planned by every replica at start-up instead

"""Timers: due work claimed by any replica, instead of APScheduler's shared job store.

Creates ``timers`` (see ``bot.store.timers``) and moves the one-off jobs that APScheduler
still holds in ``apscheduler_jobs`` (expiries, escalations, auto-executions, validations and
review reminders) into it, so that nothing planned before the upgrade is lost. Moved rows
are deleted from ``apscheduler_jobs``; the table itself is left for replicas of the previous
version still running during a rolling upgrade (it can be dropped once none is).

Revision ID: 0008_timers
Revises: 0007_subjects
Create Date: 2026-11-27
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008_timers"
down_revision: str | Sequence[str] | None = "0007_subjects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
OPEN = sa.text("state IN ('pending', 'running')")
APSCHEDULER_TABLE = "apscheduler_jobs"
# APScheduler job id -> (timer kind, key prefix), as bot.scheduler.runner named them.
LEGACY_JOBS = {
    "expire-request": ("request.expire", "request"),
    "escalate-request": ("request.escalate", "request"),
    "auto-execute": ("request.auto_execute", "request"),
    "validate-execution": ("execution.validate", "execution"),
    "remind-review": ("review.remind", "review"),
}
LEGACY_ID = re.compile(r"^(?P<job>[a-z-]+)-(?P<id>\d+)$")


def upgrade() -> None:
    timers = op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("repeat_seconds", sa.Float(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", "due_at", name="uq_timers_slot"),
    )
    op.create_index(
        "ix_timers_open",
        "timers",
        ["kind", "next_attempt_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_timers_kind_started", "timers", ["kind", "started_at"])
    _move_apscheduler_jobs(timers)


def downgrade() -> None:
    op.drop_index("ix_timers_kind_started", table_name="timers")
    op.drop_index("ix_timers_open", table_name="timers")
    op.drop_table("timers")


def _move_apscheduler_jobs(timers: sa.Table) -> None:
    bind = op.get_bind()
    if APSCHEDULER_TABLE not in sa.inspect(bind).get_table_names():
        return
    jobs = sa.table(
        APSCHEDULER_TABLE,
        sa.column("id", sa.String()),
        sa.column("next_run_time", sa.Float()),
        sa.column("job_state", sa.LargeBinary()),
    )
    now = datetime.now(UTC)
    for job_id, next_run_time, job_state in bind.execute(sa.select(jobs)).all():
        values = _timer_for(str(job_id), next_run_time, job_state, now)
        if values is None:
            continue
        bind.execute(timers.insert().values(values))
        bind.execute(jobs.delete().where(jobs.c.id == job_id))


def _timer_for(
    job_id: str, next_run_time: float | None, job_state: bytes, now: datetime
) -> dict[str, Any] | None:
    match = LEGACY_ID.match(job_id)
    if match is None or match["job"] not in LEGACY_JOBS or next_run_time is None:
        return None  # the sweep (planned again at start-up), or a paused job: nothing to move
    kind, prefix = LEGACY_JOBS[match["job"]]
    repeat_seconds = None
    if kind == "review.remind":
        try:  # the reminder's interval lives only in the job's pickled trigger (our own data)
            repeat_seconds = pickle.loads(job_state)["trigger"].interval.total_seconds()
        except Exception as error:  # noqa: BLE001 - left in place, and said
            log.warning("APScheduler job %s left in %s: %s", job_id, APSCHEDULER_TABLE, error)
            return None
    due_at = datetime.fromtimestamp(next_run_time, UTC)
    return {
        "kind": kind,
        "key": f"{prefix}:{match['id']}",
        "due_at": due_at,
        "payload": {},
        "state": "pending",
        "attempts": 0,
        "repeat_seconds": repeat_seconds,
        "next_attempt_at": due_at,
        "created_at": now,
    }

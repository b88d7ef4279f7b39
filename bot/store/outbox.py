"""The outbox: Slack work decided inside a transaction and delivered after it commits.

A listener records a decision and, in the same transaction, the messages it implies
(``enqueue_job``). A worker claims due jobs one at a time with a conditional UPDATE, so
several replicas share the queue without delivering a job twice, and a crash between commit
and delivery loses nothing: the job is still there, and an expired lease makes it claimable
again. Failures are retried with backoff; after the last attempt the job is marked failed and
reported, never silently dropped.

A claim holds a job for ``LEASE`` (15 s), renewed while the job is worked on
(``renew_job_lease``), so a job whose process died is taken over within seconds. ``attempts``
is the fencing token: renewing, finishing, failing or postponing a job is conditional on the
claim's ``attempts``, so a process whose job was taken over can record nothing for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Index,
    Text,
    and_,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.store.columns import UTCDateTime
from bot.store.pipeline import QUEUE
from bot.store.transitions import connection_of, table_of

MAX_ATTEMPTS = 8
OPEN = text("state IN ('pending', 'running')")
LEASE = timedelta(seconds=15)


class OutboxJob(SQLModel, table=True):
    """One piece of Slack work: ``kind`` names the handler, ``payload`` its arguments."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        Index("ix_outbox_jobs_due", "state", "next_attempt_at"),
        # The open jobs in claim order: finished jobs accumulate, and a claim must not scan
        # past them (migration 0004).
        Index("ix_outbox_jobs_open", "id", postgresql_where=OPEN, sqlite_where=OPEN),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    state: str = "pending"  # pending | running | done | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    claimed_by: str | None = None  # the process that claimed it last: host:pid:start


_JOBS = table_of(OutboxJob)
_ENQUEUE = insert(_JOBS).inline()  # no RETURNING: the write can be queued (bot.store.pipeline)


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one: the claim's fencing token
    created_at: datetime | None = None  # when the job was queued


def job_row(*, kind: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The column values of a new job, due at ``now``."""
    return {
        "kind": kind,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def enqueue_job(
    db: Session | Connection, *, kind: str, payload: dict[str, Any], now: datetime
) -> None:
    """Add a job inside the caller's transaction; it becomes visible when that commits.

    The service layer queues its jobs on its unit of work instead (``UnitOfWork.enqueue``),
    which writes every job of the transaction at its end, in one statement (``append_jobs``).
    """
    append_jobs(db, [job_row(kind=kind, payload=payload, now=now)])


def append_jobs(db: Session | Connection, rows: list[dict[str, Any]]) -> None:
    """Write jobs built by ``job_row`` in one statement (queued on a pipelined connection)."""
    if rows:
        connection_of(db).execute(_ENQUEUE, rows, execution_options=QUEUE)


def _due(now: datetime, kinds: Collection[str] | None) -> ColumnElement[bool]:
    # ``OPEN`` is implied by the rest; it is there, as literal text, so that the planners see
    # that the partial index of open jobs holds every due one.
    due = and_(
        OPEN,
        or_(
            (_JOBS.c.state == "pending") & (_JOBS.c.next_attempt_at <= now),
            (_JOBS.c.state == "running") & (_JOBS.c.lease_until < now),
        ),
    )
    return due if kinds is None else due & _JOBS.c.kind.in_(list(kinds))


def has_due_job(
    db: Session | Connection, *, now: datetime, kinds: Collection[str] | None = None
) -> bool:
    """Is a job of ``kinds`` due? A read, so an idle worker's poll takes no write lock."""
    query = select(_JOBS.c.id).where(_due(now, kinds)).limit(1)
    return connection_of(db).execute(query).first() is not None


def claim_next_job(
    db: Session | Connection,
    *,
    now: datetime,
    kinds: Collection[str] | None = None,
    lease: timedelta = LEASE,
    claimed_by: str | None = None,
) -> ClaimedJob | None:
    """Take the oldest due job of ``kinds`` (or one whose lease ran out); None when none."""
    connection = connection_of(db)
    due = _due(now, kinds)
    for _ in range(5):  # another replica may win the row: try the next one
        row = connection.execute(
            select(
                _JOBS.c.id,
                _JOBS.c.kind,
                _JOBS.c.payload,
                _JOBS.c.attempts,
                _JOBS.c.state,
                _JOBS.c.created_at,
            )
            .where(due)
            .order_by(_JOBS.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        won = connection.execute(
            update(_JOBS)
            .where(
                _JOBS.c.id == row.id, _JOBS.c.state == row.state, _JOBS.c.attempts == row.attempts
            )
            .values(
                state="running",
                attempts=row.attempts + 1,
                lease_until=now + lease,
                claimed_by=claimed_by,
            )
        ).rowcount
        if won == 1:
            created = row.created_at
            return ClaimedJob(
                int(row.id), str(row.kind), dict(row.payload), row.attempts + 1, created
            )
    return None


def _held(job: ClaimedJob) -> ColumnElement[bool]:
    """The job's row while ``job``'s claim still holds it (the fence)."""
    return and_(
        _JOBS.c.id == job.id, _JOBS.c.state == "running", _JOBS.c.attempts == job.attempts
    )


def running_holders(db: Session | Connection, *, kinds: Collection[str]) -> set[str]:
    """The processes holding running jobs of ``kinds`` (as they named themselves)."""
    query = select(_JOBS.c.claimed_by).where(
        OPEN, _JOBS.c.state == "running", _JOBS.c.kind.in_(list(kinds))
    )
    return {str(holder) for (holder,) in connection_of(db).execute(query) if holder}


def release_claims(
    db: Session | Connection, *, holders: Collection[str], kinds: Collection[str], now: datetime
) -> int:
    """End the leases of the running jobs of ``kinds`` that ``holders`` (processes known to
    be dead) held, so that they can be claimed at once; how many."""
    if not holders:
        return 0
    released = connection_of(db).execute(
        update(_JOBS)
        .where(
            _JOBS.c.state == "running",
            _JOBS.c.kind.in_(list(kinds)),
            _JOBS.c.claimed_by.in_(list(holders)),
        )
        .values(lease_until=now - timedelta(seconds=1))
    )
    return int(released.rowcount)


def renew_job_lease(
    db: Session | Connection, *, job: ClaimedJob, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Extend a held job's lease to ``now + lease``; False if the claim was lost."""
    renewed = connection_of(db).execute(
        update(_JOBS).where(_held(job)).values(lease_until=now + lease)
    )
    return renewed.rowcount == 1


def finish_job(db: Session | Connection, *, job: ClaimedJob, now: datetime) -> bool:
    """Mark a held job done; False (nothing changed) if its claim was lost."""
    finished = connection_of(db).execute(
        update(_JOBS)
        .where(_held(job))
        .values(state="done", finished_at=now, lease_until=None, last_error=None)
    )
    return finished.rowcount == 1


def fail_job(
    db: Session | Connection,
    *,
    job: ClaimedJob,
    error: str,
    now: datetime,
    retry_after: timedelta | None = None,
    permanent: bool = False,
) -> bool | None:
    """Record a failed attempt: schedule a retry (True) or give up after the last one, or at
    once when ``permanent`` (False). None: the claim was lost, nothing recorded."""
    connection = connection_of(db)
    if permanent or job.attempts >= MAX_ATTEMPTS:
        failed = connection.execute(
            update(_JOBS)
            .where(_held(job))
            .values(state="failed", last_error=error[:4000], finished_at=now, lease_until=None)
        )
        return False if failed.rowcount == 1 else None
    delay = retry_after if retry_after is not None else backoff(job.attempts)
    retried = connection.execute(
        update(_JOBS)
        .where(_held(job))
        .values(
            state="pending", last_error=error[:4000], next_attempt_at=now + delay, lease_until=None
        )
    )
    return True if retried.rowcount == 1 else None


def postpone_job(db: Session | Connection, *, job: ClaimedJob, until: datetime) -> bool:
    """Put a held job back without counting the attempt (it waits for another job or for a
    rate limit, not after a fault); False if the claim was lost."""
    postponed = connection_of(db).execute(
        update(_JOBS)
        .where(_held(job))
        .values(state="pending", attempts=job.attempts - 1, next_attempt_at=until, lease_until=None)
    )
    return postponed.rowcount == 1


def backoff(attempts: int) -> timedelta:
    """0.5 s, 1 s, 2 s, ... capped at one minute."""
    return timedelta(seconds=min(60.0, 0.5 * 2 ** (attempts - 1)))


def pending_job_count(db: Session | Connection) -> int:
    rows = connection_of(db).execute(
        select(_JOBS.c.id).where(_JOBS.c.state.in_(("pending", "running")))
    )
    return len(rows.all())


def failed_jobs(db: Session | Connection) -> list[OutboxJob]:
    rows = connection_of(db).execute(select(_JOBS).where(_JOBS.c.state == "failed"))
    return [OutboxJob.model_validate(dict(row._mapping)) for row in rows]

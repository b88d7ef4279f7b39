"""Timers: work due at a time, claimed by whichever replica gets there first.

A timer is one row: what to do (``kind``), what it is about (``key``, e.g. ``request:12``),
when (``due_at``) and with what (``payload``). ``(kind, key, due_at)`` is unique, so planning
the same work twice, from two replicas or from a retry, stores it once. Every replica's
``TimerWorker`` (``bot.scheduler.worker``) claims the earliest due timer with a conditional
UPDATE and a short lease, renews the lease while the handler runs, and marks the timer done;
a replica that dies leaves its lease to run out, and the next claim takes the timer over.

``next_attempt_at`` is when a timer can next be claimed: its ``due_at``, then the end of a
failed attempt's backoff, and while it runs the end of its lease. So "what is due" is one
range of the partial index of open timers, however many finished ones the table holds, and
an idle poll is a read of that index's first row. ``attempts`` counts claims and is the
fencing token: renewing, finishing or failing a timer is conditional on it, so a replica
whose lease ran out (and was taken over) can no longer record anything for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Engine,
    Index,
    Text,
    UniqueConstraint,
    and_,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.store.columns import UTCDateTime
from bot.store.pipeline import QUEUE
from bot.store.transitions import connection_of, table_of

OPEN = text("state IN ('pending', 'running')")
LEASE = timedelta(seconds=15)
MAX_ATTEMPTS = 8
WAKE = "_releasebot_timers_wake"


class TimerRow(SQLModel, table=True):
    """One piece of due work (see the module's docstring)."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("kind", "key", "due_at", name="uq_timers_slot"),
        # The open timers in claim order: finished ones accumulate, and neither a poll nor a
        # claim may scan past them (migration 0008).
        Index(
            "ix_timers_open", "kind", "next_attempt_at", postgresql_where=OPEN, sqlite_where=OPEN
        ),
        # Which replica ran the latest timer of a kind (/metrics): one probe per kind.
        Index("ix_timers_kind_started", "kind", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    key: str
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    state: str = "pending"  # pending | running | done | failed | cancelled
    attempts: int = 0
    repeat_seconds: float | None = None  # a repeating timer: plan the next slot on claim
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    claimed_by: str | None = None  # the replica that claimed it last
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


_TIMERS = table_of(TimerRow)
# No RETURNING: on PostgreSQL's pipelined writer the insert is queued, not waited for.
_SCHEDULE = {
    name: dialect_insert(_TIMERS)
    .inline()
    .on_conflict_do_nothing(index_elements=["kind", "key", "due_at"])
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


@dataclass(frozen=True)
class Timer:
    """A claimed timer, as its handler receives it."""

    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int  # including this claim: the fencing token
    repeat_every: timedelta | None
    claimed_by: str
    started_at: datetime


def schedule_timer(
    db: Session | Connection,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
    repeat_every: timedelta | None = None,
) -> None:
    """Plan ``kind`` work about ``key`` at ``due_at`` inside the caller's transaction.

    It is visible (and runs) only if that transaction commits, so a decision and its timers
    are stored together. Planning the same ``(kind, key, due_at)`` again does nothing. With
    ``repeat_every`` the timer repeats: each claim plans the next slot ``due_at + n *
    repeat_every`` after the claim's ``now`` (missed slots coalesce into one run), until
    ``cancel_timers``. With a ``Session`` of an engine served by a ``TimerWorker``, that
    worker is woken when the transaction commits, should the timer be due soon.
    """
    if repeat_every is not None and repeat_every <= timedelta(0):
        raise ValueError("repeat_every must be positive")
    connection = connection_of(db)
    values = {
        "kind": kind,
        "key": key,
        "due_at": due_at,
        "payload": payload or {},
        "state": "pending",
        "attempts": 0,
        "repeat_seconds": None if repeat_every is None else repeat_every.total_seconds(),
        "next_attempt_at": due_at,
        "created_at": now,
    }
    connection.execute(_SCHEDULE[connection.dialect.name], [values], execution_options=QUEUE)
    wake: Callable[[datetime], None] | None = getattr(connection.engine, WAKE, None)
    if wake is not None and isinstance(db, Session):
        event.listen(db, "after_commit", lambda _session: wake(due_at), once=True)


def wake_on_schedule(engine: Engine, wake: Callable[[datetime], None] | None) -> None:
    """Have ``schedule_timer`` call ``wake(due_at)`` after a session that planned a timer
    on ``engine`` commits (the engine's ``TimerWorker``); None stops it."""
    setattr(engine, WAKE, wake)


def start_timer(
    session: Session,
    *,
    kind: str,
    key: str,
    now: datetime,
    replica: str,
    lease: timedelta = LEASE,
    payload: dict[str, Any] | None = None,
) -> Timer:
    """A timer due now and already claimed by ``replica`` (in the caller's transaction), for
    work started at once here (an execution) that another replica must take over if this one
    dies: renew its lease while the work runs, ``finish_timer`` it with the work's record."""
    row = TimerRow(
        kind=kind, key=key, due_at=now, payload=payload or {}, state="running", attempts=1,
        next_attempt_at=now + lease, lease_until=now + lease, claimed_by=replica,
        created_at=now, started_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    assert row.id is not None
    return Timer(
        id=row.id,
        kind=kind,
        key=key,
        due_at=now,
        payload=dict(row.payload),
        attempts=1,
        repeat_every=None,
        claimed_by=replica,
        started_at=now,
    )


def cancel_timers(db: Session | Connection, *, kind: str, key: str, now: datetime) -> int:
    """Cancel the pending timers of ``kind`` about ``key``; how many. One already running
    finishes (its handler should find nothing left to do)."""
    return (
        connection_of(db)
        .execute(
            update(_TIMERS)
            .where(_TIMERS.c.kind == kind, _TIMERS.c.key == key, _TIMERS.c.state == "pending")
            .values(state="cancelled", finished_at=now)
        )
        .rowcount
    )


def _due(now: datetime, kinds: Collection[str]) -> ColumnElement[bool]:
    # ``OPEN`` is implied by ``next_attempt_at``'s meaning; it is there, as literal text, so
    # that the planners see that the partial index of open timers holds every due one.
    return and_(OPEN, _TIMERS.c.next_attempt_at <= now, _TIMERS.c.kind.in_(list(kinds)))


def next_ready_at(db: Session | Connection, *, kinds: Collection[str]) -> datetime | None:
    """When the earliest open timer of ``kinds`` can be claimed (a read: no write lock)."""
    earliest = func.min(_TIMERS.c.next_attempt_at, type_=UTCDateTime())
    query = select(earliest).where(OPEN, _TIMERS.c.kind.in_(list(kinds)))
    value: datetime | None = connection_of(db).execute(query).scalar()
    return value


def due_timer_count(db: Session | Connection, *, now: datetime, kinds: Collection[str]) -> int:
    """How many timers of ``kinds`` are due and not claimed (or whose lease ran out)."""
    query = select(func.count()).select_from(_TIMERS).where(_due(now, kinds))
    return int(connection_of(db).execute(query).scalar_one())


def claim_next_timer(
    db: Session | Connection,
    *,
    now: datetime,
    kinds: Collection[str],
    replica: str,
    lease: timedelta = LEASE,
) -> Timer | None:
    """Take the earliest due timer of ``kinds`` (or one whose lease ran out); None if none."""
    connection = connection_of(db)
    columns = (_TIMERS.c.id, _TIMERS.c.kind, _TIMERS.c.key, _TIMERS.c.due_at, _TIMERS.c.payload)
    query = (
        select(*columns, _TIMERS.c.state, _TIMERS.c.attempts, _TIMERS.c.repeat_seconds)
        .where(_due(now, kinds))
        .order_by(_TIMERS.c.next_attempt_at, _TIMERS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
    )
    for _ in range(5):  # should another replica win the row after all, try the next one
        row = connection.execute(query).first()
        if row is None:
            return None
        won = connection.execute(
            update(_TIMERS)
            .where(
                _TIMERS.c.id == row.id,
                _TIMERS.c.state == row.state,
                _TIMERS.c.attempts == row.attempts,
            )
            .values(
                state="running",
                attempts=row.attempts + 1,
                claimed_by=replica,
                started_at=now,
                lease_until=now + lease,
                next_attempt_at=now + lease,
            )
        ).rowcount
        if won == 1:
            every = row.repeat_seconds
            return Timer(
                id=int(row.id),
                kind=str(row.kind),
                key=str(row.key),
                due_at=row.due_at,
                payload=dict(row.payload),
                attempts=row.attempts + 1,
                repeat_every=None if every is None else timedelta(seconds=every),
                claimed_by=replica,
                started_at=now,
            )
    return None


def _held(timer: Timer) -> ColumnElement[bool]:
    return and_(
        _TIMERS.c.id == timer.id,
        _TIMERS.c.state == "running",
        _TIMERS.c.attempts == timer.attempts,
    )


def renew_timer_lease(
    db: Session | Connection, *, timer: Timer, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Extend the claim on a running timer; False if it is no longer this claim's."""
    statement = (
        update(_TIMERS)
        .where(_held(timer))
        .values(lease_until=now + lease, next_attempt_at=now + lease)
    )
    return connection_of(db).execute(statement).rowcount == 1


def finish_timer(db: Session | Connection, *, timer: Timer, now: datetime) -> bool:
    """Mark the timer done, if this claim still holds it (False: it was taken over).

    A handler may call it inside the transaction that records its work, so that the work
    and the timer's completion commit together (and a takeover can never repeat it)."""
    statement = (
        update(_TIMERS)
        .where(_held(timer))
        .values(state="done", finished_at=now, lease_until=None, last_error=None)
    )
    return connection_of(db).execute(statement).rowcount == 1


def timer_state(db: Session | Connection, *, timer_id: int) -> tuple[str, int] | None:
    row = (
        connection_of(db)
        .execute(select(_TIMERS.c.state, _TIMERS.c.attempts).where(_TIMERS.c.id == timer_id))
        .first()
    )
    return None if row is None else (str(row.state), int(row.attempts))


def fail_timer(
    db: Session | Connection,
    *,
    timer: Timer,
    error: str,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> bool | None:
    """Record a failed attempt: True, retried after a backoff; False, failed for good (after
    ``max_attempts``: report it); None, the claim was no longer held (nothing recorded)."""
    last = timer.attempts >= max_attempts
    values: dict[str, Any] = {"last_error": error[:4000], "lease_until": None}
    if last:
        values.update(state="failed", finished_at=now)
    else:
        values.update(state="pending", next_attempt_at=now + timer_backoff(timer.attempts))
    won = connection_of(db).execute(update(_TIMERS).where(_held(timer)).values(values)).rowcount
    return None if won != 1 else not last


def timer_backoff(attempts: int) -> timedelta:
    """0.5 s, 1 s, 2 s, ... capped at one minute."""
    return timedelta(seconds=min(60.0, 0.5 * 2 ** (attempts - 1)))


def last_runs(
    db: Session | Connection, *, kinds: Collection[str]
) -> dict[str, tuple[str, datetime]]:
    """For each kind, the replica that claimed its latest timer and when (one index probe)."""
    connection = connection_of(db)
    found: dict[str, tuple[str, datetime]] = {}
    for kind in sorted(kinds):
        row = connection.execute(
            select(_TIMERS.c.claimed_by, _TIMERS.c.started_at)
            .where(_TIMERS.c.kind == kind, _TIMERS.c.started_at.is_not(None))
            .order_by(_TIMERS.c.started_at.desc())
            .limit(1)
        ).first()
        if row is not None and row.claimed_by is not None:
            found[kind] = (str(row.claimed_by), row.started_at)
    return found


def prune_finished_timers(db: Session | Connection, *, before: datetime, limit: int = 1000) -> int:
    """Delete up to ``limit`` timers done or cancelled before ``before``; how many. Failed ones
    are kept for people to look at."""
    oldest = (
        select(_TIMERS.c.id)
        .where(_TIMERS.c.state.in_(("done", "cancelled")), _TIMERS.c.finished_at < before)
        .order_by(_TIMERS.c.id)
        .limit(limit)
        .scalar_subquery()
    )
    return connection_of(db).execute(delete(_TIMERS).where(_TIMERS.c.id.in_(oldest))).rowcount


def timers_of(
    db: Session | Connection,
    *,
    kind: str | None = None,
    key: str | None = None,
    open_only: bool = False,
) -> list[TimerRow]:
    """Timers (earliest due first), of one kind and key, or only open ones, if asked: for
    tools and tests."""
    query = select(_TIMERS).order_by(_TIMERS.c.due_at, _TIMERS.c.id)
    if open_only:
        query = query.where(OPEN)
    if kind is not None:
        query = query.where(_TIMERS.c.kind == kind)
    if key is not None:
        query = query.where(_TIMERS.c.key == key)
    return [TimerRow.model_validate(dict(row._mapping)) for row in connection_of(db).execute(query)]

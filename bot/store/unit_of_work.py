"""The unit of work: one transaction of the service layer and what it writes last.

A service's unit reads, decides and writes rows through ``uow.session``; what every writer
shares is not written there and then but kept on the unit of work, typed, and written by
``write_deferred`` just before the commit, in this order: the votes counted against votes read
ahead (``uow.votes``), the outbox jobs (``uow.enqueue``), then the trail events (``uow.trail``),
whose chain lock is taken last, so that no writer waits for a row while holding the trail.

``unit_of_work(engine)`` runs one on its own; ``GroupCommitter`` (``bot.store.units``) runs the
units queued at one moment in one shared transaction: they share one ``UnitOfWork``, so their
deferred writes go out together, and ``rows_read_ahead`` holds what the batch read for them all.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy import Engine, Row
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.core.trail import TrailEventDraft
from bot.store.engine import session_scope
from bot.store.outbox import append_jobs, job_row
from bot.store.trail import append_trail_records
from bot.store.votes import VoteBook


class OutboxWork(Protocol):
    """A typed outbox job (``bot.services.outbox.jobs``): its kind and its JSON payload."""

    kind: ClassVar[str]

    def payload(self) -> dict[str, Any]: ...


class UnitOfWork:
    """The session of one transaction, and the writes deferred to its end."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.votes = VoteBook()
        # Rows read for a whole batch of units in one statement, by kind (``GroupCommitter.
        # prefetch``); a unit takes its row out, so a second unit on it reads it afresh.
        self.rows_read_ahead: dict[str, dict[int, Row[Any]]] = {}
        self._jobs: list[dict[str, Any]] = []
        self._events: list[TrailEventDraft] = []

    def connection(self) -> Connection:
        return self.session.connection()

    def trail(
        self,
        *,
        kind: str,
        actor: str,
        subject: str,
        at: datetime,
        payload: dict[str, Any] | None = None,
        actor_role: str | None = None,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        message_ts: str | None = None,
        permalink: str | None = None,
    ) -> None:
        """Record a trail event: appended, in order, when the unit commits (never if not).

        The draft is checked here, so a malformed event fails the unit that made it; the
        payload is copied, so later changes to the caller's dicts do not reach the trail.
        """
        self._events.append(
            TrailEventDraft(
                kind=kind,
                actor=actor,
                subject=subject,
                at=at,
                payload=copy.deepcopy(payload or {}),
                actor_role=actor_role,
                channel_id=channel_id,
                thread_ts=thread_ts,
                message_ts=message_ts,
                permalink=permalink,
            )
        )

    def enqueue(self, job: OutboxWork, *, now: datetime) -> None:
        """Queue outbox work: written when the unit commits, with the unit's other jobs."""
        self._jobs.append(job_row(kind=job.kind, payload=job.payload(), now=now))

    def take_row(self, kind: str, row_id: int) -> Row[Any] | None:
        """The row of ``kind`` read ahead for this batch, once (None if not read ahead)."""
        return self.rows_read_ahead.get(kind, {}).pop(row_id, None)

    def write_deferred(self) -> None:
        """Write what the unit deferred (called just before the commit)."""
        self.session.flush()
        connection = self.session.connection()
        self.votes.write(connection)
        jobs, self._jobs = self._jobs, []
        append_jobs(connection, jobs)
        events, self._events = self._events, []
        if events:
            append_trail_records(connection, events)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[UnitOfWork]:
    """One unit of work in a transaction of its own: commit on success, roll back on error."""
    with session_scope(engine) as session:
        uow = UnitOfWork(session)
        yield uow
        uow.write_deferred()

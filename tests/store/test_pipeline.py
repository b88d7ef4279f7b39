"""Queued writes on a pipelined connection: reads see them, failures fail the commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.services.outbox.jobs import Job
from bot.store import UnitOfWork, unit_of_work, verify_trail
from bot.store.outbox import OutboxJob
from bot.store.pipeline import QUEUE, is_pipelined, pipelined
from bot.store.transitions import table_of

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
JOBS = table_of(OutboxJob)


@dataclass(frozen=True)
class Numbered(Job):
    kind: ClassVar[str] = "test"
    n: int


def _job(number: int) -> dict[str, object]:
    return {
        "kind": "test",
        "payload": {"n": number},
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
    }


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(JOBS)).scalar_one())


def _waits(engine: Engine) -> list[str]:
    """The statements that waited for their answer (a pipeline sync each), recorded."""
    waited: list[str] = []

    @event.listens_for(engine, "after_cursor_execute")
    def _record(connection, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if is_pipelined(connection) and not context.execution_options.get("releasebot_queue"):
            waited.append(statement.split()[0])

    return waited


def test_outside_postgresql_pipelined_does_nothing(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        pytest.skip("SQLite's behaviour")
    with engine.connect() as connection, pipelined(connection) as active:
        assert active is False
        assert not is_pipelined(connection)
        with connection.begin():
            connection.execute(insert(JOBS).inline(), [_job(1)], execution_options=QUEUE)
    assert _count(engine) == 1


def test_queued_writes_go_with_the_next_read_and_the_commit(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a pipeline needs PostgreSQL")
    with engine.connect() as connection:
        with pipelined(connection) as active:
            assert active and is_pipelined(connection)
            _read_and_update_after_queued_writes(connection)
        assert not is_pipelined(connection)
    assert _count(engine) == 3


def _read_and_update_after_queued_writes(connection: Connection) -> None:
    with connection.begin():
        connection.execute(insert(JOBS).inline(), [_job(1), _job(2)], execution_options=QUEUE)
        connection.execute(insert(JOBS).inline(), [_job(3)], execution_options=QUEUE)
        # a read waits, and sees what was queued before it in the same transaction
        seen = connection.execute(select(func.count()).select_from(JOBS)).scalar_one()
        assert seen == 3
        # a conditional update waits too: its row count is what it decides by
        moved = connection.execute(
            update(JOBS).where(JOBS.c.state == "pending").values(state="running")
        ).rowcount
        assert moved == 3
        nothing = connection.execute(
            update(JOBS).where(JOBS.c.state == "pending").values(state="done")
        ).rowcount
        assert nothing == 0


def test_a_marked_statement_with_returning_is_still_waited_for(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a pipeline needs PostgreSQL")
    with engine.connect() as connection, pipelined(connection):
        with connection.begin():
            # without .inline(), SQLAlchemy adds RETURNING for the new key
            result = connection.execute(insert(JOBS), _job(1), execution_options=QUEUE)
            assert result.inserted_primary_key is not None
            assert result.inserted_primary_key[0] is not None


def test_a_queued_write_that_fails_fails_the_transaction(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a pipeline needs PostgreSQL")
    with engine.connect() as connection:
        with connection.begin():
            job_id = connection.execute(insert(JOBS), _job(1)).inserted_primary_key[0]
    with engine.connect() as connection, pipelined(connection):
        with pytest.raises(IntegrityError):
            with connection.begin():
                connection.execute(insert(JOBS).inline(), [_job(2)], execution_options=QUEUE)
                duplicate = {**_job(3), "id": job_id}
                connection.execute(insert(JOBS).inline(), [duplicate], execution_options=QUEUE)
    assert _count(engine) == 1, "nothing of the failed transaction was committed"


def test_a_unit_of_work_waits_twice_for_its_deferred_writes(engine: Engine) -> None:
    """Votes, jobs and trail events of a unit: one wait for the trail head's lock (which
    carries the queued jobs), one for the commit (which carries the events and the head)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a pipeline needs PostgreSQL")
    with unit_of_work(engine) as uow:  # the chain's first event: the head row exists
        uow.trail(kind="test.first", actor="U0TEST", subject="release:unit:v1", at=NOW)
    waited = _waits(engine)
    with engine.connect() as connection, pipelined(connection):
        with Session(bind=connection) as session, session.begin():
            uow = UnitOfWork(session)
            for number in range(3):
                uow.enqueue(Numbered(n=number), now=NOW)
                uow.trail(
                    kind="test.unit", actor="U0TEST", subject="release:unit:v1",
                    at=NOW, payload={"n": number},
                )  # fmt: skip
            uow.write_deferred()
    assert waited == ["SELECT"], "the head's lock; the commit waits outside SQLAlchemy"
    assert _count(engine) == 3
    assert verify_trail(engine).intact

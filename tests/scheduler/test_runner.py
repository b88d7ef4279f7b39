"""The scheduler borrows the bot's engine: stopping it must not dispose that engine."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from bot.scheduler.runner import ReleaseScheduler


def test_stopping_the_scheduler_leaves_the_engine_and_its_connections_alone(
    engine: Engine,
) -> None:
    scheduler = ReleaseScheduler(engine=engine, clock=lambda: datetime.now(UTC))
    scheduler.start()
    pool = engine.pool
    held = engine.connect()  # a worker's connection, still in use when the scheduler stops
    held.execute(text("SELECT 1"))
    held.rollback()  # checked out, but not holding SQLite's write lock against the scheduler
    scheduler.stop()
    assert engine.pool is pool  # APScheduler's own store would have disposed it here
    held.close()  # back to the engine's pool, which closes it when the runtime disposes it
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        engine.dispose()
    assert pool.checkedout() == 0
    assert pool.checkedin() == 0

"""The outbox: a claim reads the open jobs, however many finished ones there are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from bot.store import session_scope
from bot.store.outbox import OutboxJob, _due, claim_next_job, enqueue_job
from bot.store.transitions import table_of

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
JOBS = table_of(OutboxJob)


def test_a_claim_reads_the_open_jobs_not_the_finished_ones(engine: Engine) -> None:
    """Finished jobs accumulate forever; the claim uses the partial index of open jobs."""
    done = [
        {
            "kind": "note",
            "payload": {},
            "state": "done",
            "attempts": 1,
            "next_attempt_at": NOW,
            "created_at": NOW,
            "finished_at": NOW,
        }  # fmt: skip
        for _ in range(3000)
    ]
    with engine.begin() as connection:
        connection.execute(insert(JOBS), done)
        enqueue_job(connection, kind="note", payload={"open": True}, now=NOW)
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE outbox_jobs")
    query = (
        select(JOBS.c.id)
        .where(_due(NOW + timedelta(seconds=1), ["note"]))
        .order_by(JOBS.c.id)
        .limit(1)
    )
    with engine.connect() as connection:
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        if engine.dialect.name == "postgresql":
            plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_outbox_jobs_open" in plan, plan
        else:
            steps = [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
            assert all("USING" in step for step in steps if "outbox_jobs" in step), steps
    with session_scope(engine) as session:
        job = claim_next_job(session, now=NOW + timedelta(seconds=1), kinds=["note"])
    assert job is not None and job.payload == {"open": True}
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(JOBS)).scalar_one()
    assert total == 3001

"""Outbox leases: short, renewed while a job is worked on, and fenced by ``attempts``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from bot.clock import utc_now
from bot.services.outbox.jobs import Ephemeral, PostMessage
from bot.services.outbox.worker import JobWorker, Record, current_claim
from bot.store import UnitOfWork, session_scope
from bot.store.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    ClaimedJob,
    OutboxJob,
    claim_next_job,
    enqueue_job,
    fail_job,
    finish_job,
    postpone_job,
    renew_job_lease,
)
from bot.store.transitions import table_of
from bot.store.unit_of_work import unit_of_work

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
JOBS = table_of(OutboxJob)


def _row(engine: Engine) -> OutboxJob:
    with engine.connect() as connection:
        row = connection.execute(select(JOBS).order_by(JOBS.c.id)).first()
    assert row is not None
    return OutboxJob.model_validate(dict(row._mapping))


def test_a_lapsed_claim_can_record_nothing_once_taken_over(engine: Engine) -> None:
    with session_scope(engine) as session:
        enqueue_job(session, kind="note", payload={}, now=NOW)
    with session_scope(engine) as session:
        first = claim_next_job(session, now=NOW)
    assert first is not None and first.attempts == 1 and first.created_at == NOW
    with session_scope(engine) as session:  # held: renewed, not claimable
        assert renew_job_lease(session, job=first, now=NOW + timedelta(seconds=10))
        assert claim_next_job(session, now=NOW + LEASE) is None
    later = NOW + timedelta(seconds=10) + LEASE + timedelta(seconds=1)
    with session_scope(engine) as session:  # the renewals stopped: taken over
        second = claim_next_job(session, now=later)
    assert second is not None and second.attempts == 2
    with session_scope(engine) as session:  # the first holder is fenced off
        assert not renew_job_lease(session, job=first, now=later)
        assert not finish_job(session, job=first, now=later)
        assert fail_job(session, job=first, error="late", now=later) is None
        assert not postpone_job(session, job=first, until=later)
    assert _row(engine).state == "running"
    with session_scope(engine) as session:
        assert finish_job(session, job=second, now=later)
    assert (_row(engine).state, _row(engine).attempts) == ("done", 2)


def test_a_permanent_failure_fails_at_once_and_postponing_does_not_count(engine: Engine) -> None:
    with session_scope(engine) as session:
        enqueue_job(session, kind="note", payload={}, now=NOW)
        job = claim_next_job(session, now=NOW)
        assert job is not None
        assert postpone_job(session, job=job, until=NOW + timedelta(seconds=30))
    assert (_row(engine).state, _row(engine).attempts) == ("pending", 0)
    with session_scope(engine) as session:
        assert claim_next_job(session, now=NOW + timedelta(seconds=29)) is None
        job = claim_next_job(session, now=NOW + timedelta(seconds=30))
        assert job is not None and job.attempts == 1
        assert fail_job(session, job=job, error="no", now=NOW, permanent=True) is False
    assert _row(engine).state == "failed"


def test_a_worker_whose_job_was_taken_over_rolls_its_record_back(engine: Engine) -> None:
    now = [NOW]
    slow = JobWorker(engine=engine, clock=lambda: now[0])
    other = JobWorker(engine=engine, clock=lambda: now[0])

    def handler(job: PostMessage) -> Record:
        claim = current_claim()
        if claim.attempts == 1:  # the first holder stalls past its lease meanwhile
            now[0] = NOW + LEASE + timedelta(seconds=1)
            assert other.run_once()
        return lambda uow: uow.enqueue(Ephemeral("C1", "U1", f"by {claim.attempts}"), now=NOW)

    def quick(job: PostMessage) -> Record:
        claim = current_claim()
        return lambda uow: uow.enqueue(Ephemeral("C1", "U1", f"by {claim.attempts}"), now=NOW)

    slow.register(PostMessage, handler)
    other.register(PostMessage, quick)
    with unit_of_work(engine) as uow:
        uow.enqueue(PostMessage(channel_id="C1", text="hi"), now=NOW)
    assert slow.run_once()
    assert (slow.lost, other.delivered) == (1, 1)
    with engine.connect() as connection:
        columns = (JOBS.c.kind, JOBS.c.payload, JOBS.c.state, JOBS.c.attempts)
        rows = connection.execute(select(*columns).order_by(JOBS.c.id))
        jobs = [(row.kind, row.payload.get("text"), row.state, row.attempts) for row in rows]
    # the job done once, by its second holder; the first one's record rolled back
    assert jobs == [("post_message", "hi", "done", 2), ("ephemeral", "by 2", "pending", 0)]


def test_a_slow_handler_keeps_its_job_while_it_lives(engine: Engine) -> None:
    """A 0.6 s lease, renewed every 0.2 s by the heartbeat: a handler working 1.5 s keeps its
    job, and another worker polling meanwhile never claims it."""
    lease = timedelta(seconds=0.6)
    holder = JobWorker(engine=engine, clock=utc_now, lease=lease)
    rival = JobWorker(engine=engine, clock=utc_now, lease=lease)
    rival_claims: list[bool] = []

    def slow(job: PostMessage) -> None:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            rival_claims.append(rival.run_once())
            time.sleep(0.1)

    holder.register(PostMessage, slow)
    rival.register(PostMessage, lambda job: None)
    with unit_of_work(engine) as uow:
        uow.enqueue(PostMessage(channel_id="C1", text="hi"), now=utc_now())
    holder.leases.start()
    try:
        assert holder.run_once()
    finally:
        holder.leases.stop()
    assert rival_claims and not any(rival_claims)
    assert holder.leases.renewals >= 3 and (holder.delivered, holder.lost) == (1, 0)
    assert (_row(engine).state, _row(engine).attempts) == ("done", 1)


def test_a_job_whose_lease_ran_out_every_time_is_failed_and_reported(engine: Engine) -> None:
    """Its handler may be what kills the process: after the last attempt's lease runs out it
    is failed and reported, not taken over forever."""
    reported: list[tuple[int, str]] = []

    class Reporting(JobWorker):
        def report(self, uow: UnitOfWork, job: ClaimedJob, error: str) -> None:
            reported.append((job.id, error))

    worker = Reporting(engine=engine, clock=lambda: NOW + timedelta(hours=1))
    worker.register(PostMessage, lambda job: None)
    with session_scope(engine) as session:
        enqueue_job(
            session, kind="post_message", payload={"channel_id": "C1", "text": "x"}, now=NOW
        )
        session.execute(
            update(JOBS).values(state="running", attempts=MAX_ATTEMPTS, lease_until=NOW)
        )
    assert worker.run_once()
    row = _row(engine)
    assert (row.state, row.attempts) == ("failed", MAX_ATTEMPTS + 1)
    assert reported and "lease ran out" in reported[0][1]

"""Group commit: many units in one transaction, each undone alone when it fails, one chain."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from sqlalchemy import Engine, func, select

from bot.services.outbox.jobs import Job
from bot.store import UnitOfWork, session_scope, verify_trail
from bot.store.outbox import OutboxJob, enqueue_job
from bot.store.transitions import table_of
from bot.store.units import DirectUnits, GroupCommitter, UnitRunner

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
JOBS = table_of(OutboxJob)


@dataclass(frozen=True)
class Numbered(Job):
    kind: ClassVar[str] = "test"
    n: int


@dataclass(frozen=True)
class Ok(Numbered):
    kind: ClassVar[str] = "ok"


@dataclass(frozen=True)
class Broken(Numbered):
    kind: ClassVar[str] = "broken"


@dataclass(frozen=True)
class Post(Numbered):
    kind: ClassVar[str] = "post"


@dataclass(frozen=True)
class Posted(Numbered):
    kind: ClassVar[str] = "posted"


def _unit(number: int, *, fail: bool = False):  # type: ignore[no-untyped-def]
    """A unit that queues a job and a trail event, then (optionally) fails; returns ``number``."""

    def unit(uow: UnitOfWork) -> int:
        uow.enqueue(Numbered(n=number), now=NOW)
        uow.trail(
            kind="test.unit", actor="U0TEST", subject="release:unit:v1", at=NOW,
            payload={"n": number},
        )  # fmt: skip
        if fail:
            raise ValueError(f"unit {number} fails")
        return number

    return unit


def _stored_numbers(engine: Engine) -> list[int]:
    with session_scope(engine) as session:
        rows = session.connection().execute(select(JOBS.c.payload).order_by(JOBS.c.id)).all()
    return [row.payload["n"] for row in rows]


@pytest.fixture
def committer(engine: Engine) -> Iterator[GroupCommitter]:
    units = GroupCommitter(engine).start()
    yield units
    units.stop()


def test_a_unit_runs_directly_until_the_committer_starts(engine: Engine) -> None:
    units = GroupCommitter(engine)
    assert units.run(_unit(1)) == 1
    assert DirectUnits(engine).run(_unit(2)) == 2
    assert _stored_numbers(engine) == [1, 2]
    assert verify_trail(engine).intact


def test_concurrent_units_share_commits_and_keep_one_chain(
    engine: Engine, committer: GroupCommitter
) -> None:
    results: dict[int, int] = {}
    barrier = threading.Barrier(16)

    def click(number: int) -> None:
        barrier.wait()
        results[number] = committer.run(_unit(number))

    threads = [threading.Thread(target=click, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == list(range(16))
    assert all(results[n] == n for n in results)  # each caller got its own unit's value
    assert sorted(_stored_numbers(engine)) == list(range(16))
    assert committer.units == 16
    assert committer.batches < 16  # some clicks shared a transaction
    verification = verify_trail(engine)
    assert verification.intact and verification.events == 16


def test_background_units_run_on_the_writer_without_making_it_busy(
    engine: Engine, committer: GroupCommitter
) -> None:
    """The outbox's delivery worker commits through the writer (so it never holds a lock
    while waiting for the interpreter) but must not yield to its own writes."""
    ran_on: list[str] = []

    def unit(uow: UnitOfWork) -> int:
        ran_on.append(threading.current_thread().name)
        return _unit(7)(uow)

    assert not committer.busy()
    assert committer.background().run(unit) == 7
    assert ran_on == ["releasebot-group-commit"]
    assert not committer.busy(within=60.0)  # background work is not clicks arriving
    assert committer.run(_unit(8)) == 8
    assert committer.busy(within=60.0)
    assert _stored_numbers(engine) == [7, 8]
    verification = verify_trail(engine)
    assert verification.intact and verification.events == 2


def test_a_background_unit_runs_directly_when_the_writer_is_stopped(engine: Engine) -> None:
    units = GroupCommitter(engine)
    assert units.background().run(_unit(1)) == 1
    units.start()
    units.stop()
    assert units.background().run(_unit(2)) == 2
    assert _stored_numbers(engine) == [1, 2]
    assert not units.busy(within=60.0)


def test_a_failing_unit_is_undone_alone(engine: Engine) -> None:
    units = GroupCommitter(engine)
    # Drive one batch by hand: three units, the middle one fails after writing.
    from bot.store.units import _Queued

    batch = [_Queued(_unit(1)), _Queued(_unit(2, fail=True)), _Queued(_unit(3))]
    units._commit(batch)
    assert batch[0].future.result() == 1 and batch[2].future.result() == 3
    with pytest.raises(ValueError, match="unit 2 fails"):
        batch[1].future.result()
    assert _stored_numbers(engine) == [1, 3]
    verification = verify_trail(engine)
    assert verification.intact and verification.events == 2  # unit 2's event went with it


def test_a_failed_shared_commit_runs_each_unit_alone(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.store.units as units_module

    calls = {"n": 0}
    real = UnitOfWork.write_deferred

    def fail_once(uow: UnitOfWork) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the shared commit fails")
        real(uow)

    monkeypatch.setattr(UnitOfWork, "write_deferred", fail_once)
    units = GroupCommitter(engine)
    batch = [units_module._Queued(_unit(1)), units_module._Queued(_unit(2))]
    units._commit(batch)
    assert [queued.future.result() for queued in batch] == [1, 2]
    assert _stored_numbers(engine) == [1, 2]  # nothing of the failed batch, then both alone
    assert verify_trail(engine).events == 2


def test_stop_commits_what_is_queued_and_then_runs_directly(engine: Engine) -> None:
    units = GroupCommitter(engine).start()
    assert units.run(_unit(1)) == 1
    units.stop()
    assert units.run(_unit(2)) == 2  # after stop: on the caller's thread
    assert _stored_numbers(engine) == [1, 2]
    with session_scope(engine) as session:
        count = session.connection().execute(select(func.count()).select_from(JOBS)).scalar()
    assert count == 2


def test_max_batch_must_be_positive(engine: Engine) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitter(engine, max_batch=0)


def test_background_work_the_writer_has_not_taken_in_time_runs_on_the_callers_thread(
    engine: Engine,
) -> None:
    units = GroupCommitter(engine, wait_seconds=0.2).start()
    release, taken = threading.Event(), threading.Event()
    runs: list[int] = []

    def slow(uow: UnitOfWork) -> int:
        taken.set()
        release.wait(10)  # the writer is stuck in this unit
        runs.append(1)
        return _unit(1)(uow)

    def quick(uow: UnitOfWork) -> int:
        runs.append(2)
        return _unit(2)(uow)

    results: dict[str, int] = {}
    first = threading.Thread(target=lambda: results.update(slow=units.run(slow)))
    first.start()
    assert taken.wait(10)
    second = threading.Thread(
        target=lambda: results.update(quick=units.background().run(quick))
    )
    second.start()
    second.join(0.5)  # it timed out waiting for the writer and took its unit back...
    release.set()  # ...and runs once the stuck transaction lets go of the database
    first.join(10)
    second.join(10)
    units.stop()
    assert results == {"slow": 1, "quick": 2}
    assert sorted(runs) == [1, 2]  # each unit ran once: the writer skipped the cancelled one
    assert sorted(_stored_numbers(engine)) == [1, 2]


def test_a_job_workers_transactions_are_units_of_its_runner(
    engine: Engine, committer: GroupCommitter
) -> None:
    """Claiming a job, and recording that it was done or failed, run on the writer thread."""
    from bot.services.outbox.worker import JobWorker

    threads: list[str] = []

    class Watched:
        def __init__(self, inner: UnitRunner) -> None:
            self.inner = inner

        def run(self, unit):  # type: ignore[no-untyped-def]
            def watched(uow: UnitOfWork):  # type: ignore[no-untyped-def]
                threads.append(threading.current_thread().name)
                return unit(uow)

            return self.inner.run(watched)

    with session_scope(engine) as session:
        enqueue_job(session, kind="ok", payload={"n": 1}, now=NOW)
        enqueue_job(session, kind="broken", payload={"n": 2}, now=NOW)
    worker = JobWorker(engine=engine, clock=lambda: NOW, units=Watched(committer.background()))
    handled: list[int] = []
    worker.register(Ok, lambda job: handled.append(job.n))

    def broken(job: Broken) -> None:
        raise RuntimeError("Slack said no")

    worker.register(Broken, broken)
    assert worker.run_until_idle() == 2
    assert handled == [1]
    assert threads == ["releasebot-group-commit"] * 4  # two claims, one done, one failed
    assert not committer.busy(within=60.0)
    with session_scope(engine) as session:
        states = dict(session.connection().execute(select(JOBS.c.kind, JOBS.c.state)).all())
    assert states["ok"] == "done"
    assert states["broken"] == "pending"  # retried later, with its error recorded


def test_what_a_handler_records_commits_with_the_jobs_completion(engine: Engine) -> None:
    """A job is done together with its record (a posted message's ts, its trail event), or
    neither is: a record that fails leaves the job to be retried and writes nothing."""
    from bot.services.outbox.worker import JobWorker

    with session_scope(engine) as session:
        enqueue_job(session, kind="post", payload={"n": 1}, now=NOW)
        enqueue_job(session, kind="post", payload={"n": 2}, now=NOW)
    worker = JobWorker(engine=engine, clock=lambda: NOW)

    def post(job: Post) -> Callable[[UnitOfWork], None]:
        def record(uow: UnitOfWork) -> None:
            uow.enqueue(Posted(n=job.n), now=NOW)
            uow.trail(
                kind="slack.message_posted", actor="bot", subject="release:unit:v1",
                at=NOW, payload={"n": job.n},
            )  # fmt: skip
            if job.n == 2:
                raise RuntimeError("the database went away")

        return record

    worker.register(Post, post)
    assert worker.run_until_idle() == 2
    with session_scope(engine) as session:
        rows = (
            session.connection()
            .execute(
                select(JOBS.c.kind, JOBS.c.payload, JOBS.c.state, JOBS.c.last_error).order_by(
                    JOBS.c.id
                )
            )
            .all()
        )
    assert [(row.kind, row.payload["n"], row.state) for row in rows] == [
        ("post", 1, "done"),
        ("post", 2, "pending"),  # to be retried
        ("posted", 1, "pending"),
    ]
    assert "the database went away" in rows[1].last_error
    verification = verify_trail(engine)
    assert verification.intact and verification.events == 1  # job 2's event went with it


def test_a_click_the_writer_cannot_commit_in_time_is_refused_and_never_run(
    engine: Engine,
) -> None:
    """A stuck writer: the click behind it is answered (an error, so a 500) within its
    patience, is never run, and the writer reports itself stuck until it moves again."""
    from bot.store.units import WriterStalledError

    units = GroupCommitter(engine, answer_within=0.2).start()
    release, taken = threading.Event(), threading.Event()
    runs: list[int] = []

    def stuck(uow: UnitOfWork) -> int:
        taken.set()
        release.wait(10)
        runs.append(1)
        return _unit(1)(uow)

    def click(uow: UnitOfWork) -> int:
        runs.append(2)
        return _unit(2)(uow)

    errors: list[BaseException] = []

    def run_stuck() -> None:
        try:
            units.run(stuck)
        except WriterStalledError as error:
            errors.append(error)

    first = threading.Thread(target=run_stuck)
    first.start()
    assert taken.wait(10)
    with pytest.raises(WriterStalledError, match="did not start"):
        units.run(click)
    first.join(10)
    assert [str(error) for error in errors] == [
        "the writer did not commit this unit within 0.2 s"
    ]
    healthy, detail = units.health()
    assert not healthy and detail.startswith("stuck: a transaction has waited")
    release.set()
    assert units.run(_unit(3)) == 3
    assert units.health() == (True, "ok")
    units.stop()
    assert runs == [1]  # the refused click never ran
    assert sorted(_stored_numbers(engine)) == [1, 3]  # the stuck one committed late

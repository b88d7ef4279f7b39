"""A restarted process takes back at once the jobs its dead predecessor held on this host, and
never a live process's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from bot.services.outbox.holders import known_dead, this_process
from bot.services.outbox.jobs import PostMessage
from bot.services.outbox.worker import JobWorker
from bot.store import session_scope
from bot.store.outbox import OutboxJob, enqueue_job
from bot.store.transitions import table_of

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
JOBS = table_of(OutboxJob)
HOST = socket.gethostname()


def _gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_which_holders_are_known_dead() -> None:
    me = f"{HOST}:{os.getpid()}:20261127T050000.000000Z"
    assert known_dead(f"{HOST}:{_gone_pid()}:20261127T040000.000000Z", me)
    # this pid, started earlier: a restarted container's predecessor
    assert known_dead(f"{HOST}:{os.getpid()}:20261127T040000.000000Z", me)
    assert not known_dead(me, me)
    assert not known_dead(f"{HOST}:{os.getppid()}:20261127T040000.000000Z", me)  # alive
    assert not known_dead(f"other-host:{_gone_pid()}:20261127T040000.000000Z", me)
    assert not known_dead("not a holder", me)
    assert this_process() == this_process() and this_process().startswith(f"{HOST}:")


def test_a_restart_releases_the_dead_predecessors_jobs_only(engine: Engine) -> None:
    dead = f"{HOST}:{_gone_pid()}:20261127T040000.000000Z"
    alive = f"{HOST}:{os.getppid()}:20261127T040000.000000Z"
    elsewhere = f"other-host:{_gone_pid()}:20261127T040000.000000Z"
    with session_scope(engine) as session:
        for n in range(3):
            enqueue_job(session, kind="post_message", payload={"channel_id": "C1", "text": str(n)},
                        now=NOW)  # fmt: skip
        for n, holder in enumerate((dead, alive, elsewhere), start=1):
            session.execute(
                update(JOBS).where(JOBS.c.id == n).values(
                    state="running", attempts=1, lease_until=NOW + timedelta(seconds=15),
                    claimed_by=holder,
                )
            )  # fmt: skip
    ran: list[str] = []
    worker = JobWorker(engine=engine, clock=lambda: NOW)
    worker.register(PostMessage, lambda job: ran.append(job.text))
    assert worker.release_dead_predecessors() == 1
    assert worker.run_until_idle() == 1 and ran == ["0"]  # at once, not after the lease
    with engine.connect() as connection:
        rows = connection.execute(select(JOBS.c.id, JOBS.c.state, JOBS.c.claimed_by)).all()
    assert sorted((r.id, r.state, r.claimed_by) for r in rows) == [
        (1, "done", worker.holder),
        (2, "running", alive),
        (3, "running", elsewhere),
    ]

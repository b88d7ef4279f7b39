"""Two replicas on one PostgreSQL database: each cron slot of a drill starts one run.

Both bots plan the same slots; the timers' unique (kind, key, due_at) keeps one timer per
slot, one replica claims it, and ``drill_runs`` is unique per slot besides. Slow (two bots).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.devtools.sandbox import Sandbox
from bot.store import session_scope
from bot.store.tables import DrillRun, Execution
from bot.store.timers import timers_of
from tests.slack.rollback_support import Receiver, rollback_runbooks, wait_until

SCHEDULE = ('    schedule: "0 15 * * wed"          # Wednesdays, 15:00\n'
            "    timezone: Europe/Berlin")
EVERY_MINUTE = '    schedule: "* * * * *"\n    timezone: Asia/Kolkata\n    timeout: 30s'


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_two_replicas_start_one_run_per_slot(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    runbooks = rollback_runbooks(tmp_path, receiver)
    path = runbooks / "ranking-model.yaml"
    text = path.read_text()
    assert SCHEDULE in text
    path.write_text(text.replace(SCHEDULE, EVERY_MINUTE))
    start = datetime(2026, 11, 25, 10, 0, 30, tzinfo=UTC)
    clock = Clock(start)
    first = Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock)
    second = Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock,
                           slack=first.slack)  # fmt: skip
    slots = 4
    try:
        for minute in range(1, slots + 1):
            clock.now = start + timedelta(minutes=minute, seconds=-30)  # the slot
            for sandbox in (first, second):
                sandbox.runtime.scheduler.worker.wake()

            def started(n: int = minute) -> bool:
                with session_scope(first.runtime.engine) as session:
                    return len(session.exec(select(DrillRun)).all()) >= n

            wait_until(started, first)
            clock.now += timedelta(seconds=45)  # past the run's 30 s timeout
            for sandbox in (first, second):
                sandbox.runtime.scheduler.worker.wake()

            def reported(n: int = minute) -> bool:
                with session_scope(first.runtime.engine) as session:
                    runs = session.exec(select(DrillRun)).all()
                    return sum(r.state == "reported" for r in runs) >= n

            wait_until(reported, first)
        with session_scope(first.runtime.engine) as session:
            runs = session.exec(select(DrillRun)).all()
            per_slot = Counter(run.scheduled_for for run in runs)
            executions = session.exec(select(Execution)).all()
            starts = [t for t in timers_of(session, kind="drill.start") if t.state == "done"]
        by_replica = Counter(t.claimed_by for t in starts)
        print(f"drills started: {len(runs)}, expected {slots}; "
              f"runs per slot: {sorted(per_slot.values())}; drill.start timers run: "
              f"{len(starts)} ({', '.join(f'{n} by {r}' for r, n in by_replica.items())}); "
              f"executor calls: {len(receiver.calls)}")
        assert len(starts) == slots
        replicas = {first.runtime.scheduler.replica, second.runtime.scheduler.replica}
        assert set(by_replica) <= replicas
        assert len(runs) == slots and set(per_slot.values()) == {1}
        assert executions == [] and receiver.calls == []
    finally:
        second.stop(keep_slack=True)
        first.stop()

"""Sample pruning and trail checkpoints run on recurring timers (once per slot, whichever
replica claims it), on SQLite and PostgreSQL, with a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from bot.scheduler.slots import Every
from bot.scheduler.upkeep import (
    PRUNE_SAMPLES_EVERY,
    SAMPLES_PRUNE,
    TRAIL_CHECKPOINT,
    SamplePruning,
    TrailCheckpoints,
)
from bot.scheduler.worker import TimerWorker
from bot.store import read_connection, unit_of_work
from bot.store.samples import SAMPLES
from bot.store.tables import TrailCheckpointRow
from bot.store.timers import timers_of
from bot.store.trail_keys import TrailKey
from bot.store.transitions import table_of
from tests.store.test_pruning import RETENTION, ten_days

SECRET = "a-trail-key-of-at-least-32-characters-for-tests"


def count(engine: Engine, table: object) -> int:
    with read_connection(engine) as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_samples_are_pruned_by_a_recurring_timer_once_per_slot(engine: Engine) -> None:
    samples = ten_days(engine)
    now = samples[-1].at
    before = count(engine, SAMPLES)
    worker = TimerWorker(engine=engine, clock=lambda: now, replica="a")
    SamplePruning(engine, RETENTION).register(worker)
    worker.plan_recurring(now)
    slot = Every(PRUNE_SAMPLES_EVERY).next_after(now)
    assert worker.run_due(slot - timedelta(seconds=1)) == 0
    assert worker.run_due(slot) == 1
    assert 0 < count(engine, SAMPLES) < before
    with read_connection(engine) as connection:
        runs = timers_of(connection, kind=SAMPLES_PRUNE)
    assert [(t.due_at, t.state) for t in runs] == [
        (slot, "done"),
        (slot + PRUNE_SAMPLES_EVERY, "pending"),
    ]


def test_trail_checkpoints_are_published_by_a_recurring_timer(engine: Engine) -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with unit_of_work(engine) as uow:
        uow.trail(kind="release.started", actor="U0ALICE", subject="release:x:1", at=now)
    woken: list[bool] = []
    every = timedelta(minutes=10)
    worker = TimerWorker(engine=engine, clock=lambda: now, replica="a")
    key = TrailKey.from_secret(SECRET)
    TrailCheckpoints(
        engine, key, every, channel_id="C0RANKREL", file=None, after=lambda: woken.append(True)
    ).register(worker)
    worker.plan_recurring(now)
    slot = Every(every).next_after(now)
    assert worker.run_due(slot) == 1
    assert count(engine, table_of(TrailCheckpointRow)) == 1 and woken == [True]
    assert worker.run_due(slot + every) == 1  # nothing new: no second checkpoint
    assert count(engine, table_of(TrailCheckpointRow)) == 1
    with read_connection(engine) as connection:
        assert len(timers_of(connection, kind=TRAIL_CHECKPOINT)) == 3

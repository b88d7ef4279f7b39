"""The timer worker, on SQLite and PostgreSQL: a controllable clock for what happens when,
and real threads (two workers, each on an engine of its own, as two replicas would be) for
"exactly once"."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.scheduler.metrics import TimerMetrics
from bot.scheduler.slots import Every, Recurring
from bot.scheduler.worker import Record, TimerObserver, TimerWorker
from bot.store import make_engine, read_connection, session_scope
from bot.store.timers import (
    LEASE,
    Timer,
    TimerRow,
    cancel_timers,
    claim_next_timer,
    schedule_timer,
    timers_of,
)

NOW = datetime(2026, 11, 27, 10, 0, 10, tzinfo=UTC)
SLOT = timedelta(seconds=30)


class Outcomes(TimerObserver):
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str]] = []

    def finished(self, timer: Timer, outcome: str) -> None:
        self.outcomes.append((timer.key, outcome))


def worker(engine: Engine, replica: str = "a", **options: object) -> TimerWorker:
    return TimerWorker(engine=engine, clock=lambda: datetime.now(UTC), replica=replica, **options)  # type: ignore[arg-type]


def plan(engine: Engine, key: str, due_at: datetime, kind: str = "note", **options: object) -> None:
    with session_scope(engine) as session:
        schedule_timer(session, kind=kind, key=key, due_at=due_at, now=NOW, **options)  # type: ignore[arg-type]


def rows(engine: Engine, kind: str | None = None) -> list[TimerRow]:
    with read_connection(engine) as connection:
        return timers_of(connection, kind=kind)


def test_a_due_timer_runs_once_with_its_claims_now_and_is_done(engine: Engine) -> None:
    ran: list[tuple[str, datetime]] = []
    timers = worker(engine)
    timers.register("note", lambda timer, now: ran.append((timer.key, now)))
    plan(engine, "request:1", NOW)
    plan(engine, "request:2", NOW + timedelta(minutes=5))
    assert timers.run_due(NOW - timedelta(seconds=1)) == 0
    assert timers.run_due(NOW + timedelta(seconds=1)) == 1
    assert timers.run_due(NOW + timedelta(seconds=2)) == 0
    assert ran == [("request:1", NOW + timedelta(seconds=1))]
    assert [(r.key, r.state, r.attempts, r.claimed_by) for r in rows(engine)] == [
        ("request:1", "done", 1, "a"),
        ("request:2", "pending", 0, None),
    ]


def test_recurring_work_runs_once_per_slot_and_an_outage_coalesces_into_one_run(
    engine: Engine,
) -> None:
    ran: list[datetime] = []
    replicas = [worker(engine, name) for name in ("a", "b")]
    for timers in replicas:
        timers.register("tick", lambda timer, now: ran.append(timer.due_at))
        timers.recurring(Recurring("tick", "system", Every(SLOT)))
        timers.plan_recurring(NOW)  # every replica plans at start-up
    first = datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)
    assert [(r.due_at, r.state) for r in rows(engine)] == [(first, "pending")]

    for timers in replicas:  # both replicas see the slot due; one runs it
        timers.run_due(first + timedelta(seconds=1))
    assert ran == [first]
    assert [(r.due_at, r.state) for r in rows(engine)] == [
        (first, "done"),
        (first + SLOT, "pending"),  # planned with the claim
    ]

    back = first + SLOT + 10 * SLOT + timedelta(seconds=5)  # every replica was down
    for timers in replicas:
        timers.plan_recurring(back)  # start-up again
        timers.run_due(back)
    assert ran == [first, first + SLOT]  # one catch-up run for the ten missed slots
    assert [(r.due_at, r.state) for r in rows(engine)] == [
        (first, "done"),
        (first + SLOT, "done"),
        (first + 12 * SLOT, "pending"),
    ]


def test_a_repeating_timer_plans_its_next_slot_until_cancelled(engine: Engine) -> None:
    ran: list[datetime] = []
    timers = worker(engine)
    timers.register("remind", lambda timer, now: ran.append(timer.due_at))
    hour = timedelta(hours=1)
    plan(engine, "review:1", NOW, kind="remind", repeat_every=hour)
    timers.run_due(NOW)
    timers.run_due(NOW + hour)
    timers.run_due(NOW + 4 * hour + timedelta(minutes=1))  # late: slots 2 and 3 are skipped
    assert ran == [NOW, NOW + hour, NOW + 2 * hour]
    with session_scope(engine) as session:
        assert cancel_timers(session, kind="remind", key="review:1", now=NOW + 4 * hour) == 1
    assert timers.run_due(NOW + 10 * hour) == 0
    assert [r.state for r in rows(engine)][-1] == "cancelled"


def test_a_failing_handler_is_retried_with_backoff_then_reported_once(engine: Engine) -> None:
    reports: list[tuple[str, int, str]] = []
    observer = Outcomes()
    timers = worker(engine, max_attempts=3, observer=observer)

    def broken(timer: Timer, now: datetime) -> None:
        raise RuntimeError(f"attempt {timer.attempts}")

    def report(session: Session, timer: Timer, error: str) -> None:
        reports.append((timer.key, timer.attempts, error))

    timers.register("note", broken, report=report)
    plan(engine, "request:1", NOW)
    for seconds in (0, 0.5, 1.5, 3.5, 60):
        timers.run_due(NOW + timedelta(seconds=seconds))
    assert observer.outcomes == [
        ("request:1", "retried"),
        ("request:1", "retried"),
        ("request:1", "failed"),
    ]
    assert reports == [("request:1", 3, "RuntimeError: attempt 3")]
    [row] = rows(engine)
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "RuntimeError: attempt 3")


def test_a_timer_whose_report_breaks_is_still_failed_not_retried_forever(engine: Engine) -> None:
    observer = Outcomes()
    timers = worker(engine, max_attempts=1, observer=observer)

    def broken(timer: Timer, now: datetime) -> None:
        raise RuntimeError("the handler")

    def report(session: Session, timer: Timer, error: str) -> None:
        raise RuntimeError("the report")

    timers.register("note", broken, report=report)
    plan(engine, "request:1", NOW)
    timers.run_due(NOW)
    assert observer.outcomes == [("request:1", "failed")]
    [row] = rows(engine)
    assert (row.state, row.last_error) == ("failed", "RuntimeError: the handler")


def effect(timer: Timer, now: datetime) -> Record:
    """What a handler records: here, a row the test can count."""

    def record(session: Session) -> None:
        schedule_timer(session, kind="effect", key=timer.key, due_at=timer.due_at, now=now)

    return record


def test_what_a_handler_records_commits_with_its_timer_but_not_after_a_takeover(
    engine: Engine,
) -> None:
    observer = Outcomes()
    timers = worker(engine, observer=observer)

    def slow(timer: Timer, now: datetime) -> Record:
        if timer.key == "request:2":  # so slow that another replica took the timer over
            with session_scope(engine) as session:
                assert claim_next_timer(session, now=now + LEASE, kinds=["note"], replica="b")
        return effect(timer, now)

    timers.register("note", slow)
    plan(engine, "request:1", NOW)
    plan(engine, "request:2", NOW + timedelta(seconds=1))
    timers.run_due(NOW + timedelta(seconds=1))
    assert observer.outcomes == [("request:1", "done"), ("request:2", "lost")]
    assert [r.key for r in rows(engine, "effect")] == ["request:1"]
    assert [(r.key, r.state, r.attempts, r.claimed_by) for r in rows(engine, "note")] == [
        ("request:1", "done", 1, "a"),
        ("request:2", "running", 2, "b"),
    ]


@pytest.fixture
def second_engine(database_url: str, engine: Engine) -> Iterator[Engine]:
    """Another engine on the same database: the second replica's."""
    other = make_engine(database_url)
    yield other
    other.dispose()


def run_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_workers_run_each_due_timer_exactly_once(engine: Engine, second_engine: Engine) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def count(timer: Timer, now: datetime) -> Record:
        with lock:
            runs[timer.key] += 1
        return effect(timer, now)

    replicas = [worker(engine, "a"), worker(second_engine, "b")]
    due = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(40):
        plan(engine, f"request:{n}", due)
    for timers in replicas:
        timers.register("note", count)
        timers.start()
    try:
        run_until(lambda: all(r.state == "done" for r in rows(engine, "note")))
    finally:
        for timers in replicas:
            timers.stop()
    assert runs == {f"request:{n}": 1 for n in range(40)}
    assert len(rows(engine, "effect")) == 40
    print("claims by replica:", Counter(r.claimed_by for r in rows(engine, "note")))


def test_two_workers_run_each_slot_of_recurring_work_once(
    engine: Engine, second_engine: Engine
) -> None:
    runs: Counter[datetime] = Counter()
    lock = threading.Lock()

    def tick(timer: Timer, now: datetime) -> None:
        with lock:
            runs[timer.due_at] += 1

    replicas = [
        worker(engine, "a", poll_seconds=0.05),
        worker(second_engine, "b", poll_seconds=0.05),
    ]
    for timers in replicas:
        timers.register("tick", tick)
        timers.recurring(Recurring("tick", "system", Every(timedelta(seconds=0.2))))
        timers.start()
    try:
        run_until(lambda: len(runs) >= 6)
    finally:
        for timers in replicas:
            timers.stop()
    done = [r.due_at for r in rows(engine, "tick") if r.state == "done"]
    assert set(runs.values()) == {1}
    assert sorted(runs) == sorted(done)
    assert len([r for r in rows(engine, "tick") if r.state == "pending"]) == 1


def test_a_long_handler_keeps_its_timer_while_its_lease_is_renewed(
    engine: Engine, second_engine: Engine
) -> None:
    lease = timedelta(seconds=0.6)
    calls: list[str] = []

    def long(timer: Timer, now: datetime) -> None:
        calls.append(timer.key)
        time.sleep(1.5)  # two and a half leases

    replicas = [
        worker(engine, "a", lease=lease, poll_seconds=0.05),
        worker(second_engine, "b", lease=lease, poll_seconds=0.05),
    ]
    plan(engine, "request:1", datetime.now(UTC) - timedelta(seconds=1))
    for timers in replicas:
        timers.register("note", long)
        timers.start()
    try:
        run_until(lambda: rows(engine)[0].state == "done")
    finally:
        for timers in replicas:
            timers.stop()
    assert calls == ["request:1"]
    [row] = rows(engine)
    assert row.attempts == 1


def test_a_timer_planned_due_now_wakes_the_worker_without_waiting_for_its_poll(
    engine: Engine,
) -> None:
    ran = threading.Event()
    timers = worker(engine, poll_seconds=60)
    timers.register("note", lambda timer, now: ran.set())
    timers.start()
    try:
        time.sleep(0.2)  # the worker has found nothing to do and sleeps for its poll
        plan(engine, "request:1", datetime.now(UTC))
        assert ran.wait(20)  # well before the 60 s poll
    finally:
        timers.stop()


def test_metrics_say_how_late_timers_ran_what_happened_and_who_ran_them(engine: Engine) -> None:
    registry = CollectorRegistry()
    timers = worker(engine, "replica-a")
    timers.observer = TimerMetrics(
        registry, replica="replica-a", engine=engine, kinds=timers.kinds, clock=lambda: NOW
    )
    timers.register("note", lambda timer, now: None)
    plan(engine, "request:1", NOW - timedelta(seconds=3))
    plan(engine, "request:2", NOW - timedelta(seconds=1))
    assert timers.run_due(NOW - timedelta(seconds=2)) == 1  # one second late
    text = generate_latest(registry).decode()
    assert 'releasebot_replica_info{replica="replica-a"} 1.0' in text
    assert 'releasebot_timer_lateness_seconds_bucket{kind="note",le="1.0"} 1.0' in text
    assert 'releasebot_timer_lateness_seconds_bucket{kind="note",le="0.5"} 0.0' in text
    assert 'releasebot_timers_run_total{kind="note",outcome="done"} 1.0' in text
    started = (NOW - timedelta(seconds=2)).timestamp()
    assert (
        f'releasebot_timer_last_run_timestamp_seconds{{kind="note",replica="replica-a"}} '
        f"{started:.9e}" in text
    )
    assert "releasebot_timers_due 1.0" in text  # request:2, due at NOW

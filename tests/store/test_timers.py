"""The timers' store contract, on SQLite and PostgreSQL: planned once, claimed once, held
while renewed, taken over once the lease runs out, retried, then failed for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from bot.store import read_connection, session_scope
from bot.store.timers import (
    LEASE,
    OPEN,
    Timer,
    TimerRow,
    _due,
    cancel_timers,
    claim_next_timer,
    due_timer_count,
    fail_timer,
    finish_timer,
    last_runs,
    next_ready_at,
    prune_finished_timers,
    renew_timer_lease,
    schedule_timer,
    timers_of,
)
from bot.store.transitions import table_of

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
KINDS = ["note"]
TIMERS = table_of(TimerRow)


def plan(engine: Engine, key: str, due_at: datetime, **options: object) -> None:
    with session_scope(engine) as session:
        schedule_timer(session, kind="note", key=key, due_at=due_at, now=NOW, **options)  # type: ignore[arg-type]


def claim(engine: Engine, now: datetime, replica: str = "a") -> Timer | None:
    with session_scope(engine) as session:
        return claim_next_timer(session, now=now, kinds=KINDS, replica=replica)


def rows(engine: Engine) -> list[TimerRow]:
    with read_connection(engine) as connection:
        return timers_of(connection)


def test_the_same_work_planned_twice_is_stored_once(engine: Engine) -> None:
    plan(engine, "request:1", NOW)
    plan(engine, "request:1", NOW, payload={"again": True})  # a retry, another replica
    plan(engine, "request:1", NOW + timedelta(minutes=1))  # another slot of the same work
    plan(engine, "request:2", NOW)
    stored = rows(engine)
    assert [(r.key, r.due_at, r.payload) for r in stored] == [
        ("request:1", NOW, {}),
        ("request:2", NOW, {}),
        ("request:1", NOW + timedelta(minutes=1), {}),
    ]
    assert {r.state for r in stored} == {"pending"}


def test_a_timer_planned_in_a_transaction_that_rolls_back_does_not_exist(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            schedule_timer(session, kind="note", key="request:1", due_at=NOW, now=NOW)
            raise RuntimeError("the decision failed")
    assert rows(engine) == []


def test_the_earliest_due_timer_is_claimed_and_not_before_it_is_due(engine: Engine) -> None:
    plan(engine, "late", NOW + timedelta(seconds=10))
    plan(engine, "early", NOW + timedelta(seconds=5))
    with read_connection(engine) as connection:
        assert next_ready_at(connection, kinds=KINDS) == NOW + timedelta(seconds=5)
        assert next_ready_at(connection, kinds=["other"]) is None
    assert claim(engine, NOW) is None
    first = claim(engine, NOW + timedelta(seconds=30), replica="a")
    second = claim(engine, NOW + timedelta(seconds=30), replica="b")
    assert first is not None and second is not None
    assert (first.key, first.attempts, first.claimed_by) == ("early", 1, "a")
    assert (second.key, second.claimed_by) == ("late", "b")
    assert claim(engine, NOW + timedelta(seconds=30), replica="c") is None  # both are held
    with session_scope(engine) as session:
        assert (
            claim_next_timer(session, now=NOW + timedelta(seconds=30), kinds=["other"], replica="c")
            is None
        )


def test_a_lease_that_runs_out_is_taken_over_and_fences_off_the_first_claim(
    engine: Engine,
) -> None:
    plan(engine, "request:1", NOW)
    first = claim(engine, NOW, replica="a")
    assert first is not None
    assert claim(engine, NOW + LEASE - timedelta(seconds=1), replica="b") is None
    with read_connection(engine) as connection:
        assert next_ready_at(connection, kinds=KINDS) == NOW + LEASE  # when b will look again
    taken = claim(engine, NOW + LEASE, replica="b")
    assert taken is not None
    assert (taken.id, taken.attempts, taken.claimed_by) == (first.id, 2, "b")
    with session_scope(engine) as session:
        # a is back (it was only slow): it can record nothing for the timer any more
        assert not renew_timer_lease(session, timer=first, now=NOW + LEASE)
        assert not finish_timer(session, timer=first, now=NOW + LEASE)
        assert fail_timer(session, timer=first, error="late", now=NOW + LEASE) is None
        assert finish_timer(session, timer=taken, now=NOW + LEASE)
    [row] = rows(engine)
    assert (row.state, row.attempts, row.claimed_by, row.started_at) == (
        "done",
        2,
        "b",
        NOW + LEASE,
    )


def test_a_renewed_lease_keeps_a_long_handler_its_timer(engine: Engine) -> None:
    plan(engine, "request:1", NOW)
    timer = claim(engine, NOW, replica="a")
    assert timer is not None
    for beat in (5, 10, 15, 20):  # the heartbeat, three times per lease
        with session_scope(engine) as session:
            assert renew_timer_lease(session, timer=timer, now=NOW + timedelta(seconds=beat))
        assert claim(engine, NOW + timedelta(seconds=beat + 1), replica="b") is None
    # the renewals stop (the replica died): taken over one lease after the last one
    assert claim(engine, NOW + timedelta(seconds=20) + LEASE - timedelta(seconds=1)) is None
    taken = claim(engine, NOW + timedelta(seconds=20) + LEASE, replica="b")
    assert taken is not None and taken.attempts == 2


def test_cancelling_stops_pending_timers_only(engine: Engine) -> None:
    plan(engine, "review:1", NOW)
    plan(engine, "review:1", NOW + timedelta(hours=1))
    plan(engine, "review:2", NOW + timedelta(hours=1))
    running = claim(engine, NOW)
    assert running is not None and running.key == "review:1"
    with session_scope(engine) as session:
        assert cancel_timers(session, kind="note", key="review:1", now=NOW) == 1
        assert cancel_timers(session, kind="other", key="review:2", now=NOW) == 0
    states = [(r.key, r.due_at, r.state) for r in rows(engine)]
    assert states == [
        ("review:1", NOW, "running"),  # finishes; its handler finds nothing left to do
        ("review:1", NOW + timedelta(hours=1), "cancelled"),
        ("review:2", NOW + timedelta(hours=1), "pending"),
    ]
    with session_scope(engine) as session:
        assert finish_timer(session, timer=running, now=NOW)
    later = claim(engine, NOW + timedelta(hours=2))
    assert later is not None and later.key == "review:2"
    assert claim(engine, NOW + timedelta(hours=2)) is None


def test_failures_are_retried_with_backoff_then_failed_for_good(engine: Engine) -> None:
    plan(engine, "request:1", NOW)
    now = NOW
    for attempt in (1, 2, 3):
        timer = claim(engine, now)
        assert timer is not None and timer.attempts == attempt
        with session_scope(engine) as session:
            retrying = fail_timer(
                session, timer=timer, error=f"boom {attempt}", now=now, max_attempts=3
            )
        assert retrying is (attempt < 3)
        if attempt < 3:
            backoff = 0.5 * 2 ** (attempt - 1)
            assert claim(engine, now + timedelta(seconds=backoff / 2)) is None
            now += timedelta(seconds=backoff)
    [row] = rows(engine)
    assert (row.state, row.attempts, row.last_error, row.finished_at) == (
        "failed",
        3,
        "boom 3",
        now,
    )
    assert claim(engine, now + timedelta(days=1)) is None


def test_last_runs_and_due_counts_say_who_ran_what(engine: Engine) -> None:
    for n in range(3):
        plan(engine, f"request:{n}", NOW + timedelta(seconds=n))
    assert claim(engine, NOW + timedelta(seconds=5), replica="a") is not None
    assert claim(engine, NOW + timedelta(seconds=6), replica="b") is not None
    with read_connection(engine) as connection:
        assert last_runs(connection, kinds=["note", "other"]) == {
            "note": ("b", NOW + timedelta(seconds=6))
        }
        assert due_timer_count(connection, now=NOW + timedelta(seconds=6), kinds=KINDS) == 1
        assert due_timer_count(connection, now=NOW + LEASE + timedelta(seconds=6), kinds=KINDS) == 3


def test_pruning_deletes_old_finished_timers_in_batches_and_keeps_failed_ones(
    engine: Engine,
) -> None:
    old = NOW - timedelta(days=30)
    finished = [
        {
            "kind": "note",
            "key": f"request:{n}",
            "due_at": old + timedelta(seconds=n),
            "payload": {},
            "state": state,
            "attempts": 1,
            "next_attempt_at": old,
            "created_at": old,
            "finished_at": old,
        }
        for n, state in enumerate(["done"] * 5 + ["cancelled"] * 2 + ["failed"])
    ]
    with engine.begin() as connection:
        connection.execute(insert(TIMERS), finished)
    plan(engine, "request:new", NOW)
    with session_scope(engine) as session:
        assert prune_finished_timers(session, before=NOW - timedelta(days=7), limit=4) == 4
    with session_scope(engine) as session:
        assert prune_finished_timers(session, before=NOW - timedelta(days=7), limit=4) == 3
    assert sorted(r.state for r in rows(engine)) == ["failed", "pending"]


def test_a_claim_reads_the_open_timers_not_the_finished_ones(engine: Engine) -> None:
    """Finished timers accumulate; a poll and a claim use the partial index of open ones."""
    done = [
        {
            "kind": "note",
            "key": f"request:{n}",
            "due_at": NOW - timedelta(seconds=n),
            "payload": {},
            "state": "done",
            "attempts": 1,
            "next_attempt_at": NOW - timedelta(seconds=n),
            "created_at": NOW,
            "finished_at": NOW,
        }
        for n in range(3000)
    ]
    with engine.begin() as connection:
        connection.execute(insert(TIMERS), done)
        schedule_timer(connection, kind="note", key="open", due_at=NOW, now=NOW)
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE timers")
    kinds = [*KINDS, "other"]
    claim_query = (
        select(TIMERS.c.id)
        .where(_due(NOW + timedelta(seconds=1), kinds))
        .order_by(TIMERS.c.next_attempt_at)
        .limit(1)
    )
    poll_query = select(func.min(TIMERS.c.next_attempt_at)).where(OPEN, TIMERS.c.kind.in_(kinds))
    with engine.connect() as connection:
        for query in (claim_query, poll_query):
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            if engine.dialect.name == "postgresql":
                lines = connection.exec_driver_sql("EXPLAIN " + sql)
                plan_text = "\n".join(row[0] for row in lines)
                assert "ix_timers_open" in plan_text, plan_text
            else:
                lines = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
                steps = [row[-1] for row in lines if "timers" in row[-1]]
                assert steps and all("ix_timers_open" in step for step in steps), steps
    timer = claim(engine, NOW + timedelta(seconds=1))
    assert timer is not None and timer.key == "open"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(TIMERS)).scalar_one() == 3001

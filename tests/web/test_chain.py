"""How far the chain is verified for the pages: the whole chain once, then each new event once;
a tampered event is caught by a new watch, and where it is shown by the per-event checks."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from bot.store import (
    append_only,
    append_trail_event,
    read_connection,
    session_scope,
    trail_for_subject,
)
from bot.web.chain import ChainWatch, check_events


def append(engine: Engine, now: datetime, count: int, start: int = 0) -> None:
    for index in range(start, start + count):
        with session_scope(engine) as session:
            append_trail_event(
                session,
                kind="gate.pass",
                actor="U0CHIARA",
                at=now + timedelta(seconds=index),
                subject=f"release:ranking-model:v1.{index % 3}.0",
                payload={"n": index},
            )


def test_the_watch_verifies_new_events_as_they_come(engine: Engine, now: datetime) -> None:
    watch = ChainWatch(engine)
    append(engine, now, 12)
    first = watch.catch_up()
    assert (first.verified_seq, first.head_seq, first.first_bad) == (
        12,
        12,
        None,
    ) and first.complete
    append(engine, now, 5, start=12)
    assert watch.state(wait=5).verified_seq == 17


def test_tampering_is_found_by_a_new_watch_and_on_the_page(engine: Engine, now: datetime) -> None:
    append(engine, now, 9)
    passed = ChainWatch(engine)
    passed.catch_up()
    with engine.begin() as connection:
        append_only.uninstall(connection)
        connection.execute(
            text("UPDATE trail_events SET payload_json = :forged WHERE seq = 4"),
            {"forged": '{"n":99}'},
        )
        append_only.install(connection)
    fresh = ChainWatch(engine).catch_up()
    assert fresh.first_bad is not None and fresh.first_bad.seq == 4 and fresh.verified_seq == 3
    assert fresh.first_bad.problem == "altered" and fresh.complete
    with read_connection(engine) as connection:
        shown = trail_for_subject(connection, subject="release:ranking-model:v1.0.0")
    checks = check_events(engine, shown)
    assert [seq for seq, check in checks.items() if not check.good] == [4]
    assert passed.catch_up().first_bad is None  # the watch that went past it: only the page knows

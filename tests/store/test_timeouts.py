"""Every wait for the database is bounded: the server's timeouts are set on each connection,
a connection whose answer does not come in time is closed and replaced, and SQLite's writer
lock is waited for within bounds. (A silent network link is played by a freezing proxy in
tests/slack/test_stalled_database.py.)"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.store.engine import WriteLockTimeoutError, make_engine, session_scope
from bot.store.timeouts import DatabaseTimeouts


def on_postgresql(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL's timeouts")


def test_each_connection_carries_the_servers_timeouts(database_url: str) -> None:
    on_postgresql(database_url)
    engine = make_engine(database_url, timeouts=DatabaseTimeouts.of(3.0))
    try:
        with engine.connect() as connection:
            shown = {
                name: connection.execute(text(f"SHOW {name}")).scalar()
                for name in ("statement_timeout", "idle_in_transaction_session_timeout")
            }
            assert connection.execute(text("SELECT current_schema()")).scalar().startswith("test_")
    finally:
        engine.dispose()
    assert shown == {"statement_timeout": "3s", "idle_in_transaction_session_timeout": "3s"}


def test_an_answer_that_does_not_come_closes_the_connection_and_the_next_one_works(
    database_url: str,
) -> None:
    on_postgresql(database_url)
    # the client waits 1 s for answers the server takes 2 s to give: as if they were lost
    engine = make_engine(database_url, timeouts=DatabaseTimeouts(statement_s=3, answer_grace_s=-2))
    try:
        with engine.connect() as connection:
            with pytest.raises(OperationalError, match="no answer from PostgreSQL within 1.0 s"):
                connection.execute(text("SELECT pg_sleep(2)"))
            assert connection.invalidated
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_a_statement_past_the_timeout_is_cancelled_by_the_server(database_url: str) -> None:
    on_postgresql(database_url)
    engine = make_engine(database_url, timeouts=DatabaseTimeouts.of(1.0))
    try:
        with engine.connect() as connection:
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(3)"))
    finally:
        engine.dispose()


def test_migrations_run_without_a_statement_timeout() -> None:
    bounds = DatabaseTimeouts.of(5.0).for_migrations()
    assert bounds.statement_s is None and bounds.answer_s is None
    assert "statement_timeout=0 " in bounds.server_options()
    assert bounds.libpq_parameters()["connect_timeout"] == 2


def test_sqlites_writer_lock_is_waited_for_within_bounds(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("SQLite's writer lock")
    engine = make_engine(database_url, timeouts=DatabaseTimeouts(sqlite_lock_s=0.2))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with session_scope(engine):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        with pytest.raises(WriteLockTimeoutError, match="not free within"):
            with session_scope(engine):
                pass
    finally:
        release.set()
        holder.join(10)
    with session_scope(engine):
        pass  # free again
    engine.dispose()

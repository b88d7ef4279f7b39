"""Engines and sessions: one factory, no module globals.

SQLite gets WAL, foreign keys and a busy timeout, and its transactions are begun by us rather
than by pysqlite (which would otherwise begin lazily and never ``BEGIN IMMEDIATE``). Write
transactions use ``BEGIN IMMEDIATE``: the writer lock is taken up front, so two writers queue
on the busy timeout instead of failing when a deferred reader upgrades. Read-only work passes
``sqlite_begin="DEFERRED"`` (see ``read_connection``) and does not block writers.

Every wait for the database is bounded: see ``bot.store.timeouts``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from bot.store.timeouts import (
    DEFAULT_TIMEOUTS,
    SQLITE_BUSY_TIMEOUT_S,
    DatabaseTimeouts,
    bound_postgresql,
)

SQLITE_BEGIN_OPTION = "sqlite_begin"
WRITE_LOCK = "_releasebot_sqlite_write_lock"
# Enough connections for the HTTP threads, the delivery and executor workers and the scheduler.
POOL_SIZE = 24
POOL_OVERFLOW = 8
_LOCK_TIMEOUT = "_releasebot_write_lock_timeout"


def normalise_database_url(database_url: str) -> str:
    """``postgres://`` and bare ``postgresql://`` mean psycopg 3 here (psycopg2 is not used)."""
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    url = make_url(database_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def make_engine(
    database_url: str,
    *,
    sqlite_autocheckpoint: int | None = None,
    timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS,
    **engine_options: Any,
) -> Engine:
    """Build an engine for ``database_url`` (SQLite file or memory, or PostgreSQL), every
    wait bounded by ``timeouts``.

    ``sqlite_autocheckpoint`` sets SQLite's ``wal_autocheckpoint`` (pages) on every connection:
    raise it when a ``WalCheckpointer`` checkpoints instead (``bot.store.checkpoints``)."""
    url = make_url(normalise_database_url(database_url))
    if url.get_backend_name() != "sqlite":
        engine_options.setdefault("pool_pre_ping", True)
        engine_options.setdefault("pool_size", POOL_SIZE)
        engine_options.setdefault("max_overflow", POOL_OVERFLOW)
        engine_options.setdefault("pool_timeout", timeouts.connect_s + (timeouts.answer_s or 30))
        engine = create_engine(url, **engine_options)
        bound_postgresql(engine, timeouts)
        return engine
    connect_args = engine_options.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    connect_args.setdefault("check_same_thread", False)
    if url.database in (None, "", ":memory:"):
        engine_options.setdefault("poolclass", StaticPool)
    else:
        engine_options.setdefault("pool_size", POOL_SIZE)
        engine_options.setdefault("max_overflow", POOL_OVERFLOW)
    engine = create_engine(url, connect_args=connect_args, **engine_options)
    _configure_sqlite(engine, autocheckpoint=sqlite_autocheckpoint)
    # SQLite has one writer at a time. Threads of this process queue on a Python lock and
    # wake as soon as it is free, instead of polling in SQLite's busy handler (which sleeps
    # up to 100 ms between tries); other processes still meet the busy timeout.
    setattr(engine, WRITE_LOCK, threading.RLock())
    setattr(engine, _LOCK_TIMEOUT, timeouts.sqlite_lock_s)
    return engine


def _configure_sqlite(engine: Engine, *, autocheckpoint: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED, IMMEDIATE or EXCLUSIVE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine_or_connection: Engine | Connection) -> bool:
    return engine_or_connection.dialect.name == "sqlite"


class WriteLockTimeoutError(TimeoutError):
    """This process's SQLite writer lock was not free within the bound."""


@contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """This process's SQLite writer lock (nothing on PostgreSQL), waited for within bounds."""
    lock: threading.RLock | None = getattr(engine, WRITE_LOCK, None)
    if lock is None:
        yield
        return
    timeout: float = getattr(engine, _LOCK_TIMEOUT, SQLITE_BUSY_TIMEOUT_S)
    if not lock.acquire(timeout=timeout):
        raise WriteLockTimeoutError(f"the SQLite writer lock was not free within {timeout:.0f} s")
    try:
        yield
    finally:
        lock.release()



@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One write transaction: commit on success, roll back on any error.

    The service layer's units of work (``bot.store.unit_of_work``) run in one of these and
    write their deferred trail events, outbox jobs and votes at its end.
    """
    with write_lock(engine):
        with Session(engine, expire_on_commit=False) as session:
            with session.begin():
                yield session


@contextmanager
def read_connection(engine: Engine, **execution_options: Any) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent snapshot and does not block writers."""
    options = dict(execution_options)
    if is_sqlite(engine):
        options[SQLITE_BEGIN_OPTION] = "DEFERRED"
    else:
        options.setdefault("isolation_level", "REPEATABLE READ")
    with engine.connect().execution_options(**options) as connection:
        with connection.begin():
            yield connection


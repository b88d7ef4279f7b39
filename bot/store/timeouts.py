"""Bounds on every wait for the database (``DatabaseTimeouts``, applied by ``make_engine``).

A PostgreSQL connection that goes silent (a partition, a dead NAT entry: no reset ever
arrives) would otherwise keep its thread waiting for an answer forever: the group commit's
writer, and every click behind it. So, on PostgreSQL:

- libpq's ``connect_timeout``, TCP keepalives and ``tcp_user_timeout`` (the kernel drops a
  link whose data stays unacknowledged), for real partitions;
- the server's ``statement_timeout`` (every statement is answered, if only with an error,
  within it) and ``idle_in_transaction_session_timeout`` (a session whose client vanished
  mid-transaction is ended, releasing its locks, the trail head's among them);
- and since an answer can still be lost on the way (a proxy that stops forwarding, which no
  keepalive notices), the client waits at most the statement timeout plus a grace for any
  answer (``bot.store.bounded_connection``), then closes the connection. SQLAlchemy takes that as a
  disconnect and discards every connection its pool made before it. The pool's ping of a
  connection before handing it out waits at most ``ping_s``: a click that meets a dead
  pooled connection pays about a second, not the statement timeout.

On SQLite (one machine, no network) the busy timeout bounds waits for other processes, and
the same bound the wait for this process's writer lock (``bot.store.engine.write_lock``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, event

SQLITE_BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long anything waits for the database (seconds; ``statement_s`` None: unbounded
    statements, for migrations). See the module's docstring for what each bounds."""

    statement_s: float | None = 5.0
    connect_s: float = 5.0
    idle_in_transaction_s: float = 5.0
    answer_grace_s: float = 2.0  # beyond the statement timeout, for the answer to travel
    ping_s: float = 1.0  # the pool's check of an idle connection before reuse
    sqlite_lock_s: float = SQLITE_BUSY_TIMEOUT_S  # this process's SQLite writer lock
    keepalive_idle_s: int = 5
    keepalive_interval_s: int = 1
    keepalive_count: int = 3

    @classmethod
    def of(cls, seconds: float) -> DatabaseTimeouts:
        """Every bound derived from one figure (``RELEASEBOT_DATABASE_TIMEOUT``)."""
        idle = max(1, math.ceil(seconds))
        return cls(statement_s=seconds, connect_s=min(seconds, 2.0),
                   idle_in_transaction_s=seconds, keepalive_idle_s=idle)  # fmt: skip

    def for_migrations(self) -> DatabaseTimeouts:
        """Migrations may run long statements (an index over a year of trail)."""
        return replace(self, statement_s=None, idle_in_transaction_s=0.0)

    @property
    def answer_s(self) -> float | None:
        """The longest a client waits for one answer: beyond it the link is taken as dead."""
        return None if self.statement_s is None else self.statement_s + self.answer_grace_s

    def libpq_parameters(self) -> dict[str, Any]:
        unacknowledged_ms = int(1000 * (self.answer_s or 30.0))
        return {
            "connect_timeout": max(2, math.ceil(self.connect_s)),  # libpq: whole seconds, >= 2
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle_s,
            "keepalives_interval": self.keepalive_interval_s,
            "keepalives_count": self.keepalive_count,
            "tcp_user_timeout": unacknowledged_ms,
        }

    def server_options(self) -> str:
        statement_ms = 0 if self.statement_s is None else int(1000 * self.statement_s)
        idle_ms = int(1000 * self.idle_in_transaction_s)
        return (
            f"-c statement_timeout={statement_ms} "
            f"-c idle_in_transaction_session_timeout={idle_ms}"
        )


DEFAULT_TIMEOUTS = DatabaseTimeouts()


def bound_postgresql(engine: Engine, timeouts: DatabaseTimeouts) -> None:
    """Connect through ``BoundedConnection``, with libpq's and the server's bounds (merged
    into any ``options`` the URL carries, such as a ``search_path``)."""

    from bot.store.bounded_connection import BoundedConnection  # psycopg: PostgreSQL only

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        for name, value in timeouts.libpq_parameters().items():
            cparams.setdefault(name, value)
        cparams["options"] = f"{cparams.get('options', '')} {timeouts.server_options()}".strip()
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.answer_timeout = timeouts.answer_s
        return connection

    ping = engine.dialect.do_ping

    def bounded_ping(dbapi_connection: Any) -> bool:
        bound = getattr(dbapi_connection, "answer_timeout", None)
        if bound is None:
            return ping(dbapi_connection)
        dbapi_connection.answer_timeout = min(bound, timeouts.ping_s)
        try:
            return ping(dbapi_connection)
        finally:
            dbapi_connection.answer_timeout = bound

    engine.dialect.do_ping = bounded_ping  # type: ignore[method-assign]

"""A psycopg connection that does not wait forever for an answer (``bot.store.timeouts``).

Its own module so that psycopg (about 10 MB) is imported only by a bot on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pg_errors

# psycopg's own: how often a wait wakes to check for interrupts.
_WAIT_INTERVAL_S = 0.1
# What psycopg's wait raises when its timeout expires (private: any OperationalError else).
_WAIT_TIMEOUT = getattr(pg_errors, "_WaitTimeout", pg_errors.OperationalError)


class DatabaseSilentError(pg_errors.OperationalError):
    """PostgreSQL sent no answer within the bound: the connection was closed."""


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits at most ``answer_timeout`` seconds for any answer,
    then closes itself (a silent link never recovers) and raises ``DatabaseSilentError``."""

    answer_timeout: float | None = None

    def wait(
        self, gen: Any, interval: float = _WAIT_INTERVAL_S, timeout: float | None = None
    ) -> Any:
        if timeout is not None or self.answer_timeout is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.answer_timeout)
        except _WAIT_TIMEOUT:
            self.pgconn.finish()  # closed: SQLAlchemy takes it as a disconnect
            raise DatabaseSilentError(
                f"no answer from PostgreSQL within {self.answer_timeout:.1f} s; "
                "the connection was closed"
            ) from None

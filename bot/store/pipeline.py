"""Queued writes on PostgreSQL: a connection in psycopg's pipeline mode.

Each statement that waits for PostgreSQL costs a thread more than the round trip: once the
answer is in, the thread must win the interpreter lock back from the threads parsing the next
clicks, which takes about one switch interval (1 ms in ``serve``) and often several. The group
commit writer (``bot.store.units``) used to wait about a dozen times per batch.

On a pipelined connection a write marked ``QUEUE`` (``connection.execute(..., execution_options=
QUEUE)``) is sent without waiting for its answer; everything queued goes with the next
statement that is not marked, and that one is waited for as usual, results and all (every
read, every conditional update whose row count decides something, and the commit). So a
batch's writes (votes, outbox jobs, trail events, the trail head) cost one wait with the trail
head's lock and one with the commit. A queued write that fails fails the next wait, which
fails the transaction: nothing is committed that was not written.

Only statements whose outcome nobody reads may be marked: a plain INSERT or UPDATE (an INSERT
built with ``.inline()``, so that SQLAlchemy adds no RETURNING for its key; a statement with
RETURNING is waited for even if marked). Unmarked statements behave exactly as without a
pipeline. SQLite has no pipeline: there ``pipelined`` does nothing and ``QUEUE`` is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

QUEUE_OPTION = "releasebot_queue"
QUEUE: dict[str, Any] = {QUEUE_OPTION: True}
_PIPELINE = "releasebot_pipeline"
_LISTENING = "_releasebot_pipeline_listener"
_LISTENING_LOCK = threading.Lock()


@contextmanager
def pipelined(connection: Connection) -> Iterator[bool]:
    """Put ``connection`` in pipeline mode while inside (PostgreSQL; yields False elsewhere).

    Enter it outside any transaction: a transaction begun inside must end inside."""
    if connection.dialect.name != "postgresql":
        yield False
        return
    _listen(connection.engine)
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection has no driver connection to pipeline")
    with driver.pipeline() as pipeline:
        connection.info[_PIPELINE] = pipeline
        try:
            yield True
        finally:
            connection.info.pop(_PIPELINE, None)


def is_pipelined(connection: Connection) -> bool:
    return _PIPELINE in connection.info


def _listen(engine: Engine) -> None:
    with _LISTENING_LOCK:
        if getattr(engine, _LISTENING, False):
            return
        setattr(engine, _LISTENING, True)

    @event.listens_for(engine, "after_cursor_execute")
    def _wait_unless_queued(
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        pipeline = connection.info.get(_PIPELINE)
        if pipeline is None:
            return
        if context is not None and context.execution_options.get(QUEUE_OPTION):
            compiled = context.compiled
            if compiled is None or not getattr(compiled, "effective_returning", None):
                return  # nothing to read back: it goes with the next wait
        # Before SQLAlchemy reads the cursor: its rows, description and row count arrive now.
        pipeline.sync()

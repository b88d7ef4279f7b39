"""SQLite's WAL checkpoints, moved off the clicks' path.

In WAL mode SQLite copies the log back into the database (a checkpoint) whenever a commit
leaves the log over ``wal_autocheckpoint`` pages (1,000 by default), and it does so inside that
commit. In ``serve`` that commit is the group commit's writer (``bot.store.units``): about every
half-second under a burst of clicks, one batch paid for the copy and its ``fsync``, and the
clicks waiting on it were the slowest 1 % (a batch of 5 ms of CPU took 25 ms).

``WalCheckpointer`` runs passive checkpoints from a thread of its own instead, in the gaps
between clicks, like the outbox's delivery: about once a second when the bot is quiet, and
while clicks keep arriving only after ``MAX_DEFER_S``. A passive checkpoint takes no lock that
a writer or reader needs, and ``sqlite3`` releases the interpreter lock while it runs. Not
checkpointing during a burst matters as much as not doing it on the writer: every
checkpoint ends with an ``fsync``, and on a shared disk the writer's own writes to the log
wait behind it (checkpointing every 0.2 s during clicks measured slower than SQLite's own).
The engine of ``serve`` raises ``wal_autocheckpoint`` to ``BACKGROUND_AUTOCHECKPOINT_PAGES``
(``make_engine(..., sqlite_autocheckpoint=...)``), so that SQLite still checkpoints by
itself should this thread fall behind or stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from bot.store.engine import is_sqlite

log = logging.getLogger(__name__)
CHECKPOINT_EVERY_S = 1.0
# While clicks arrive, a checkpoint waits in slices of this long, at most MAX_DEFER_S.
DEFER_SLICE_S = 0.05
MAX_DEFER_S = 10.0
# A safety net only: 16,384 pages of 4 KiB, a 64 MiB log, before a commit checkpoints itself.
BACKGROUND_AUTOCHECKPOINT_PAGES = 16_384


@dataclass(frozen=True)
class Checkpoint:
    """What ``PRAGMA wal_checkpoint(PASSIVE)`` reported: frames in the log, frames copied."""

    busy: bool
    log_frames: int
    checkpointed_frames: int


def has_log(engine: Engine) -> bool:
    """A SQLite file (an in-memory database has no log to checkpoint)."""
    return is_sqlite(engine) and engine.url.database not in (None, "", ":memory:")


def checkpoint(engine: Engine) -> Checkpoint:
    """One passive checkpoint, on a connection outside any transaction (the engine's own
    connections begin ``IMMEDIATE`` transactions, which would take the write lock)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            row = cursor.fetchone()
            if row is None:
                raise RuntimeError("PRAGMA wal_checkpoint returned nothing")
            busy, log_frames, copied = row
        finally:
            cursor.close()
    finally:
        connection.close()
    return Checkpoint(bool(busy), int(log_frames), int(copied))


class WalCheckpointer:
    """A thread that checkpoints a SQLite engine's log about every ``every`` seconds, deferring
    each checkpoint (by at most ``max_defer`` seconds) while ``busy()`` says clicks arrive."""

    def __init__(
        self,
        engine: Engine,
        *,
        busy: Callable[[], bool] = lambda: False,
        every: float = CHECKPOINT_EVERY_S,
        max_defer: float = MAX_DEFER_S,
    ) -> None:
        if not has_log(engine):
            raise ValueError("WAL checkpoints are for a SQLite file")
        self.engine = engine
        self.busy = busy
        self.every = every
        self.max_defer = max_defer
        self.checkpoints = 0
        self.largest_log = 0  # frames, the most seen at a checkpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="releasebot-wal-checkpoint", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop, after one last checkpoint (so the log is small when the process ends)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.wait(self.every)
            deferred = 0.0
            while not stopping and deferred < self.max_defer and self.busy():
                stopping = self._stop.wait(DEFER_SLICE_S)
                deferred += DEFER_SLICE_S
            try:
                done = checkpoint(self.engine)
            except Exception:  # the next one retries; SQLite's own checkpoints still run
                log.warning("WAL checkpoint failed", exc_info=True)
            else:
                self.checkpoints += 1
                self.largest_log = max(self.largest_log, done.log_frames)
            if stopping:
                log.info("WAL checkpoints: %d, largest log %d pages",
                         self.checkpoints, self.largest_log)  # fmt: skip
                return

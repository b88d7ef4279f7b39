"""Units of work and who commits them: one transaction each, or many in one group commit.

A *unit* is a function of a ``UnitOfWork`` (``bot.store.unit_of_work``) that reads, decides and
writes (rows, conditional transitions, deferred trail events and outbox jobs) and returns a
value. ``DirectUnits`` runs each unit in its own ``unit_of_work``. ``GroupCommitter`` hands
units to one writer thread, which runs every unit queued at that moment in one shared
transaction (one ``UnitOfWork``) and commits once; each caller gets its unit's value only
after that commit. Units marked with ``with_prefetch`` have their rows read
ahead for the whole batch in one statement (``GroupCommitter.prefetch``). The trail chain is
one lock, so one commit per batch instead of per click is what lets concurrent clicks scale:
on PostgreSQL the chain lock is held through one commit (and WAL flush) per batch, and on
SQLite the write lock is taken once per batch rather than queued for by every HTTP thread.

Background work (the outbox's delivery worker) runs its units on the writer too, through
``GroupCommitter.background()``: a thread that holds the SQLite write lock or the trail's lock
while it waits for the interpreter lock behind busy HTTP threads stalls every click's batch
behind it (a delivery during a burst of clicks put 50-70 ms on the clicks around it). On the
writer, its reads and writes join a batch and hold nothing between them; and background units
do not count as clicks arriving (``busy``), so the worker's yielding is unchanged.

The writer keeps one connection; on PostgreSQL it is pipelined (``bot.store.pipeline``), so
the deferred writes of a batch go with the trail head's lock and the commit instead of each
waiting for its answer.

A unit must only touch the database: it runs on the writer thread while other callers wait,
so network calls (Slack user-group look-ups, say) belong before or after it. It may run more
than once, but commits once: if any unit of a batch raises, or the shared commit fails, the
whole batch is rolled back and each unit is run again alone in its own transaction, so one
bad unit never takes the others down with it, and its caller gets its exception. (Units
raise rarely: refusals are values, not exceptions. Savepoints would isolate a failing unit
without the rerun, but cost two round trips per unit on PostgreSQL on every click.)

A click waits at most ``answer_within`` seconds (Slack gives up at 3): if the writer has not
committed its unit by then (the database went silent, say), the caller gets
``WriterStalledError`` and answers 500, and the unit is abandoned: not run if it had not
started, not run again alone if its batch fails. (If its batch had reached the database's
COMMIT, it may still count: "not answered 200" means "not known to be recorded", and clicking
again is idempotent.) The writer's own waits are bounded by the engine's timeouts
(``bot.store.timeouts``): a silent connection is closed, the batch rolled back, and the
writer carries on with a new connection, no restart needed. ``health`` says whether a batch
has been in flight for longer than a click may wait.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.store.engine import write_lock
from bot.store.pipeline import pipelined
from bot.store.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")
Unit = Callable[[UnitOfWork], T]
# Enough to absorb every HTTP thread's click at once; larger batches only lengthen the wait.
MAX_BATCH = 64
WAIT_SECONDS = 30.0  # background work's patience with the writer
ANSWER_WITHIN_S = 2.5  # a click's: Slack shows a click failed after 3 s


Prefetch = Callable[[UnitOfWork, list[int]], None]
PREFETCH_KEY = "prefetch_key"


def with_prefetch(unit: Unit[T], kind: str, row_id: int) -> Unit[T]:
    """Mark ``unit`` as reading row ``row_id`` of ``kind`` first: a group commit reads the rows
    of every unit of a batch in one statement (see ``GroupCommitter.prefetch``)."""
    setattr(unit, PREFETCH_KEY, (kind, row_id))
    return unit


class WriterStalledError(RuntimeError):
    """The writer did not commit the unit in time; it is abandoned (see the module)."""


class UnitRunner(Protocol):
    def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` in a transaction; its value once it has committed."""
        ...


class DirectUnits:
    """Each unit in its own transaction, on the caller's thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, unit: Unit[T]) -> T:
        with unit_of_work(self.engine) as uow:
            return unit(uow)


@dataclass
class _Queued:
    unit: Unit[Any]
    urgent: bool = True  # a click's (``busy`` counts it), not background work
    future: Future[Any] = field(default_factory=Future)
    abandoned: bool = False  # its caller gave up waiting: never run it again


class _BackgroundUnits:
    """A ``GroupCommitter``'s runner for work that can wait (see ``background``)."""

    def __init__(self, committer: GroupCommitter) -> None:
        self.committer = committer

    def run(self, unit: Unit[T]) -> T:
        return self.committer.run(unit, urgent=False)


class GroupCommitter:
    """One writer thread committing the units queued at once as one transaction.

    Until ``start`` (and after ``stop``) units run directly on the caller's thread, so tools
    and tests that never start it behave like ``DirectUnits``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = MAX_BATCH,
        wait_seconds: float = WAIT_SECONDS,
        answer_within: float = ANSWER_WITHIN_S,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.answer_within = answer_within
        self._batch_started: float | None = None  # time.monotonic() of the batch in flight
        self.stalls = 0  # units whose callers gave up waiting
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = False
        self.batches = 0
        self.units = 0
        self._last_unit_at = -1e9  # time.monotonic() of the last unit queued or committed
        self._connection: Connection | None = None  # the writer thread's, between batches
        self._pipeline = ExitStack()  # keeps that connection pipelined (PostgreSQL)
        self._prefetchers: dict[str, Prefetch] = {}

    def prefetch(self, kind: str, reader: Prefetch) -> None:
        """Before a batch runs, ``reader(uow, ids)`` reads (and may lock) the rows of ``kind``
        its units are marked with (``with_prefetch``), in one statement instead of one per
        unit, leaving them in ``uow.rows_read_ahead[kind]`` (see ``UnitOfWork.take_row``).
        Each unit must still read a row itself when it does not find it there."""
        self._prefetchers[kind] = reader

    def busy(self, within: float = 0.05) -> bool:
        """Were units queued or committed in the last ``within`` seconds (clicks arriving)?
        Background units (``background``) do not count."""
        return time.monotonic() - self._last_unit_at < within

    def background(self) -> UnitRunner:
        """A runner for background work (outbox delivery): its units are committed by the
        writer like any other, but do not make the committer ``busy``, so a worker that
        yields to clicks does not yield to its own writes."""
        return _BackgroundUnits(self)

    def start(self) -> GroupCommitter:
        if self._thread is None:
            self._accepting = True
            self._thread = threading.Thread(
                target=self._loop, name="releasebot-group-commit", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking units, commit what is queued, and end the writer thread."""
        thread, self._thread = self._thread, None
        self._accepting = False
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
            log.info("group commit: %d units in %d transactions", self.units, self.batches)

    def health(self) -> tuple[bool, str]:
        """(healthy, what it is doing): unhealthy while a batch has been in flight for longer
        than a click may wait, or when the writer thread has died."""
        thread = self._thread
        if self._accepting and thread is not None and not thread.is_alive():
            return False, "the writer thread has stopped"
        started = self._batch_started
        if started is not None:
            waited = time.monotonic() - started
            if waited > self.answer_within:
                return False, f"stuck: a transaction has waited {waited:.1f} s for the database"
        return True, "ok"

    def run(self, unit: Unit[T], *, urgent: bool = True) -> T:
        thread = self._thread
        if not self._accepting or thread is None or threading.current_thread() is thread:
            with unit_of_work(self.engine) as uow:
                return unit(uow)
        queued = _Queued(unit, urgent)
        if urgent:
            self._last_unit_at = time.monotonic()
        self._queue.put(queued)
        patience = self.answer_within if urgent else self.wait_seconds
        try:
            result: T = queued.future.result(timeout=patience)
        except FutureTimeout:
            self.stalls += 1
            if queued.future.cancel():  # not started: it never will be
                if not urgent:  # background work can wait longer: run it here
                    log.warning("the group-commit writer did not take a unit in %.0f s; "
                                "running it on the caller's thread", patience)  # fmt: skip
                    with unit_of_work(self.engine) as uow:
                        return unit(uow)
                raise WriterStalledError(
                    f"the writer did not start this unit within {patience:.1f} s"
                ) from None
            queued.abandoned = True  # started: it may commit, but is never run again
            if queued.future.done():  # it finished just now
                return cast(T, queued.future.result())
            raise WriterStalledError(
                f"the writer did not commit this unit within {patience:.1f} s"
            ) from None
        return result

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stopping = True
                    break
                batch.append(queued)
            # A caller that gave up waiting cancelled its unit and runs it itself.
            batch = [queued for queued in batch if queued.future.set_running_or_notify_cancel()]
            if batch:
                self._commit(batch)
        # Whatever was queued after the stop request still runs (on this thread, one by one).
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if queued is not None and queued.future.set_running_or_notify_cancel():
                self._run_alone(queued)
        self._drop_writer_connection()

    def _commit(self, batch: list[_Queued]) -> None:
        values: list[Any] = []
        self._batch_started = time.monotonic()
        try:
            with write_lock(self.engine):
                connection = self._writer_connection()
                with Session(bind=connection, expire_on_commit=False) as session:
                    with session.begin():
                        uow = UnitOfWork(session)
                        self._prefetch(uow, batch)
                        for queued in batch:
                            values.append(queued.unit(uow))
                        uow.write_deferred()
        except Exception as error:  # nothing of the batch is stored: each unit again, alone
            log.info("group commit of %d units rolled back (%s); running each alone",
                     len(batch), error)  # fmt: skip
            self._drop_writer_connection()
            for queued in batch:
                self._run_alone(queued)
            return
        finally:
            self._batch_started = None
        self.batches += 1
        self.units += len(batch)
        if any(queued.urgent for queued in batch):
            self._last_unit_at = time.monotonic()
        for queued, value in zip(batch, values, strict=True):
            queued.future.set_result(value)

    def _prefetch(self, uow: UnitOfWork, batch: list[_Queued]) -> None:
        wanted: dict[str, set[int]] = {}
        for queued in batch:
            key = getattr(queued.unit, PREFETCH_KEY, None)
            if key is not None and key[0] in self._prefetchers:
                wanted.setdefault(key[0], set()).add(key[1])
        for kind, ids in wanted.items():
            if len(ids) > 1:
                self._prefetchers[kind](uow, sorted(ids))

    def _writer_connection(self) -> Connection:
        """The writer thread's own connection, kept between batches: taking one from the pool
        costs a ping (a round trip) per batch. On PostgreSQL it stays in pipeline mode, so
        that a batch's deferred writes wait once, with the commit (``bot.store.pipeline``)."""
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._drop_writer_connection()
            connection = self.engine.connect()
            self._connection = connection
            self._pipeline.enter_context(pipelined(connection))
        return self._connection

    def _drop_writer_connection(self) -> None:
        connection, self._connection = self._connection, None
        try:
            self._pipeline.close()
        except Exception:  # leaving pipeline mode on a broken connection: it is closed next
            log.debug("leaving pipeline mode failed", exc_info=True)
        if connection is not None:
            try:
                connection.close()
            except Exception:  # a broken connection: the pool discards it
                log.debug("closing the writer's connection failed", exc_info=True)

    def _run_alone(self, queued: _Queued) -> None:
        if queued.abandoned:  # its caller has answered already ("not recorded")
            queued.future.set_exception(WriterStalledError("abandoned by its caller"))
            return
        self._batch_started = time.monotonic()
        try:
            with unit_of_work(self.engine) as uow:
                value = queued.unit(uow)
        except BaseException as error:  # handed to the caller, who re-raises it
            queued.future.set_exception(error)
            return
        finally:
            self._batch_started = None
        self.batches += 1
        self.units += 1
        queued.future.set_result(value)

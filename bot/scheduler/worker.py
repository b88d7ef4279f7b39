"""The timer worker: runs due timers (``bot.store.timers``) on whichever replica claims them.

Each process runs one ``TimerWorker`` with a few loop threads. A loop reads when the next
timer of a registered kind is ready (an index read, no write lock) and sleeps until then, at
most ``poll_seconds`` (a timer planned by another replica is seen within that), or until this
process plans one due sooner (``wake``). It claims the earliest due timer with a conditional
UPDATE and a lease, runs the kind's handler outside any transaction while a heartbeat thread
renews the lease, then records the timer done (with what the handler returned to record, in
one transaction). A failure is retried with backoff; after the last attempt the timer is
failed and reported (the kind's ``report``, a log line, a metric), never silently dropped. A
replica that dies mid-handler stops renewing: another replica's claim takes the timer over
once its lease runs out.

Handlers receive ``(timer, now)``. They must be idempotent per ``(kind, key, due_at)``: a
takeover (or a crash after the handler's commit but before the timer's) runs them again. Do
the work as a conditional state change, or return a ``Record`` (database work only), which
commits together with the timer's completion, only while this claim still holds the timer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.clock import Clock
from bot.logs import log_context
from bot.scheduler.leases import LeaseKeeper
from bot.scheduler.slots import Recurring, next_repeat
from bot.store import UnitOfWork, read_connection
from bot.store.timers import (
    LEASE,
    MAX_ATTEMPTS,
    WAKE,
    Timer,
    claim_next_timer,
    fail_timer,
    finish_timer,
    next_ready_at,
    schedule_timer,
    timer_state,
    wake_on_schedule,
)
from bot.store.units import DirectUnits, UnitRunner

log = logging.getLogger(__name__)
LOST_RACE_S = 0.05
Record = Callable[[UnitOfWork], object]  # what it returns is ignored
Handler = Callable[[Timer, datetime], Record | None]
Report = Callable[[UnitOfWork, Timer, str], None]


class LeaseLost(Exception):
    """The timer was taken over by another claim: nothing of this run may be recorded."""


class TimerObserver:
    """What a worker tells its metrics (``bot.scheduler.metrics``); by default nothing."""

    def claimed(self, timer: Timer) -> None: ...

    def finished(self, timer: Timer, outcome: str) -> None:
        """``outcome``: done, retried, failed or lost."""


@dataclass(frozen=True)
class _Kind:
    handler: Handler
    report: Report | None


def default_replica_id(now: datetime | None = None) -> str:
    """``host:pid:start``: tells replicas (and restarts of one) apart in rows and metrics."""
    started = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{socket.gethostname()}:{os.getpid()}:{started}"


class TimerWorker:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        replica: str,
        units: UnitRunner | None = None,
        lease: timedelta = LEASE,
        poll_seconds: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
        threads: int = 2,
        observer: TimerObserver | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.replica = replica
        self.units: UnitRunner = units if units is not None else DirectUnits(engine)
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.threads = threads
        self.observer = observer or TimerObserver()
        # Called after a handler's Record has committed (e.g. to wake the outbox's workers).
        self.after_record: Callable[[], None] | None = None
        self._kinds: dict[str, _Kind] = {}
        self._recurring: dict[tuple[str, str], Recurring] = {}
        self._leases = LeaseKeeper(units=self.units, clock=clock, lease=lease, name="timers")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- set-up -----------------------------------------------------------------------------

    def register(self, kind: str, handler: Handler, *, report: Report | None = None) -> None:
        """Run ``handler(timer, now)`` for due timers of ``kind``. It must be idempotent per
        ``(kind, key, due_at)`` (see the module's docstring); a ``Record`` it returns is
        committed with the timer's completion, anything else it returns is ignored.
        ``report(uow, timer, error)`` records a timer that failed for good where people
        will see it (database work only, in the transaction that marks it failed)."""
        self._kinds[kind] = _Kind(handler, report)

    def recurring(self, recurring: Recurring) -> None:
        """Plan ``recurring`` work (its kind must be registered) on every slot (see it)."""
        if recurring.kind not in self._kinds:
            raise ValueError(f"register a handler for {recurring.kind!r} first")
        self._recurring[(recurring.kind, recurring.key)] = recurring

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def plan_recurring(self, now: datetime) -> None:
        """Plan the next slot of every recurring work after ``now`` (done at start-up)."""

        def plan(uow: UnitOfWork) -> None:
            for recurring in self._recurring.values():
                self._plan_slot(uow.session, recurring, after=now, now=now)

        self.units.run(plan)

    # --- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self.plan_recurring(self.clock())
        wake_on_schedule(self.engine, self._scheduled)
        self._leases.start()
        self._threads = [
            threading.Thread(target=self._loop, name=f"timers-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if getattr(self.engine, WAKE, None) == self._scheduled:
            wake_on_schedule(self.engine, None)
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self._leases.stop(timeout)

    def wake(self) -> None:
        self._wake.set()

    def holding(self, timer: Timer) -> AbstractContextManager[None]:
        """Keep renewing ``timer``'s lease while inside: for a timer claimed by other code of
        this process (``bot.store.timers.start_timer``), such as a running execution."""
        return self._leases.holding(timer)

    def _scheduled(self, due_at: datetime) -> None:
        if due_at <= self.clock() + timedelta(seconds=self.poll_seconds):
            self._wake.set()

    def run_due(self, now: datetime, limit: int = 1000) -> int:
        """Run every timer due at ``now`` (a controllable clock's), on this thread; how many."""
        count = 0
        while count < limit and self.run_once(now):
            count += 1
        return count

    def run_once(self, now: datetime | None = None) -> bool:
        """Claim and run one due timer; False when none is due."""
        return self._step(now)[0]

    def _step(self, now: datetime | None) -> tuple[bool, float]:
        """Run one due timer if there is one: (ran, seconds until the next may be due)."""
        kinds = self.kinds()
        if not kinds:
            return False, self.poll_seconds
        with read_connection(self.engine) as connection:  # a read: no write lock when idle
            ready = next_ready_at(connection, kinds=kinds)
        at = now if now is not None else self.clock()
        if ready is None or ready > at:
            wait = self.poll_seconds if ready is None else (ready - at).total_seconds()
            return False, min(self.poll_seconds, wait)
        timer = self.units.run(lambda uow: self._claim(uow.session, kinds, at))
        if timer is None:  # another replica was first: look again in a moment
            return False, LOST_RACE_S
        self._run(timer, self.clock if now is None else _fixed(now))
        return True, 0.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran, delay = self._step(None)
            except Exception:  # the loop must survive anything; the timer stays planned
                log.exception("timer worker failed; retrying")
                ran, delay = False, self.poll_seconds
            if not ran and delay > 0 and self._wake.wait(delay):
                self._wake.clear()

    def _claim(self, session: Session, kinds: list[str], now: datetime) -> Timer | None:
        timer = claim_next_timer(
            session, now=now, kinds=kinds, replica=self.replica, lease=self.lease
        )
        if timer is None:
            return None
        # The next slot is planned with the claim, not by the handler: a handler that fails
        # for good, or a replica that dies in it, does not end the series.
        recurring = self._recurring.get((timer.kind, timer.key))
        if recurring is not None:
            self._plan_slot(session, recurring, after=max(timer.due_at, now), now=now)
        elif timer.repeat_every is not None:
            schedule_timer(
                session,
                kind=timer.kind,
                key=timer.key,
                due_at=next_repeat(timer.due_at, timer.repeat_every, now),
                payload=timer.payload,
                repeat_every=timer.repeat_every,
                now=now,
            )
        return timer

    @staticmethod
    def _plan_slot(
        session: Session, recurring: Recurring, *, after: datetime, now: datetime
    ) -> None:
        due_at = recurring.slots.next_after(after)
        if due_at is not None:
            schedule_timer(
                session,
                kind=recurring.kind,
                key=recurring.key,
                due_at=due_at,
                payload=recurring.payload,
                now=now,
            )

    def _run(self, timer: Timer, clock: Clock) -> None:
        """Run a claimed timer; what is logged meanwhile names it and what it is about (its
        key: ``request:12``) as ``timer`` and ``subject`` (``bot.logs``)."""
        with log_context(subject=timer.key, timer=f"{timer.kind}:{timer.id}"):
            self._run_claimed(timer, clock)

    def _run_claimed(self, timer: Timer, clock: Clock) -> None:
        self.observer.claimed(timer)
        kind = self._kinds[timer.kind]
        if timer.attempts > self.max_attempts:  # only leases running out get this far
            error = f"its lease ran out {timer.attempts - 1} times (did its replica die?)"
            self._failed(timer, error, clock(), give_up=True)
            return
        with self._leases.holding(timer):
            try:
                record = kind.handler(timer, timer.started_at)
            except Exception as error:  # noqa: BLE001 - every failure is recorded and retried
                self._failed(timer, f"{type(error).__name__}: {error}", clock())
                return
        done_at = clock()

        def done(uow: UnitOfWork) -> None:
            if callable(record):  # a handler returning a service's bool records nothing
                record(uow)
            if not finish_timer(uow.session, timer=timer, now=done_at):
                if timer_state(uow.session, timer_id=timer.id) != ("done", timer.attempts):
                    raise LeaseLost(f"timer {timer.id} was taken over")

        try:
            self.units.run(done)
        except LeaseLost:
            log.warning("timer %s (%s %s) was taken over before it finished here; its run is "
                        "not recorded", timer.id, timer.kind, timer.key)  # fmt: skip
            self.observer.finished(timer, "lost")
            return
        except Exception as error:  # noqa: BLE001 - not recorded: retried like any failure
            self._failed(timer, f"{type(error).__name__}: {error}", clock())
            return
        self.observer.finished(timer, "done")
        if callable(record) and self.after_record is not None:
            self.after_record()

    def _failed(self, timer: Timer, error: str, now: datetime, *, give_up: bool = False) -> None:
        report = self._kinds[timer.kind].report
        attempts = 0 if give_up else self.max_attempts

        def record(uow: UnitOfWork, *, reported: bool = True) -> bool | None:
            retrying = fail_timer(
                uow.session, timer=timer, error=error, now=now, max_attempts=attempts
            )
            if retrying is False and report is not None and reported:
                report(uow, timer, error)
            return retrying

        try:
            retrying = self.units.run(record)
        except Exception:  # a broken report must not keep the timer running forever
            log.exception("reporting the failure of timer %s (%s) failed", timer.id, timer.kind)
            retrying = self.units.run(lambda uow: record(uow, reported=False))
        if retrying is None:
            outcome = "lost"
        else:
            outcome = "retried" if retrying else "failed"
        self.observer.finished(timer, outcome)
        if outcome == "failed":
            log.error("timer %s (%s %s due %s) failed for good after %d attempts: %s",
                      timer.id, timer.kind, timer.key, timer.due_at.isoformat(),
                      timer.attempts, error)  # fmt: skip
        else:
            log.warning("timer %s (%s %s) failed (%s): %s", timer.id, timer.kind, timer.key,
                        outcome, error)  # fmt: skip


def _fixed(now: datetime) -> Clock:
    def clock() -> datetime:
        return now

    return clock

"""A worker thread that runs the outbox jobs of the kinds it has handlers for.

It claims one due job at a time (a short transaction), turns its payload back into the typed
job (``bot.services.outbox.jobs``), runs its handler outside any transaction, then records
the result: the job done, together with what the handler returned to record (a unit of work:
say, the ``ts`` of the message it posted and its trail event), in one transaction, so that a
job is never done without its record. A failing job is retried
with backoff; after its last attempt it is reported (``report``), never silently dropped.
Subclasses add handlers and say which errors are permanent (``classify``).

Its transactions are units of work run by ``units`` (``bot.store.units``): in ``serve`` the
group commit's writer runs them, so that this thread never holds a database lock while it
waits for the interpreter lock behind the threads acknowledging clicks.

A claim holds its job for a short lease, renewed by ``JobLeases`` while the handler runs and
fenced by the claim's ``attempts``: a job whose process died is taken over within one lease,
and a worker whose job was taken over records nothing for it (its record is rolled back).
A handler reads its claim (the job's id, attempts, queueing time) with ``current_claim()``.

``health`` (for ``/healthz``) is unhealthy while one round of the loop has run longer than
``stall_after``, or when the last round failed (the database unreachable, say): the loop
polls every ``poll_seconds``, so it is healthy again as soon as a round succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine

from bot.logs import log_context
from bot.services.outbox.holders import known_dead, this_process
from bot.services.outbox.jobs import Job, job_subject, parse_job
from bot.services.outbox.leases import JobLeases
from bot.store import UnitOfWork, read_connection
from bot.store.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    ClaimedJob,
    claim_next_job,
    fail_job,
    finish_job,
    has_due_job,
    postpone_job,
    release_claims,
    running_holders,
)
from bot.store.units import DirectUnits, UnitRunner

log = logging.getLogger(__name__)
WAIT_FOR_DEPENDENCY = timedelta(seconds=0.5)
# While clicks are being recorded, a yielding worker waits in slices of this long...
YIELD_SLICE_S = 0.02
# ...but never longer than this between two jobs, so a sustained burst only slows it down.
MAX_YIELD_S = 1.0
# One round (a claim, a Slack call with its retries, the record) taking longer is stuck.
STALL_AFTER_S = 60.0
Record = Callable[[UnitOfWork], None]
J = TypeVar("J", bound=Job)
# A handler may return what to record once the job is done (committed with its completion).
Handler = Callable[[J], Record | None]


_CLAIM: ContextVar[ClaimedJob | None] = ContextVar("outbox_claim", default=None)


class NotReady(Exception):
    """The job depends on work not done yet (e.g. a thread reply before its root message)."""


class Deferred(Exception):
    """The job may not run before ``until`` (a rate limit): it is put back, the attempt not
    counted, and other jobs run meanwhile."""

    def __init__(self, until: datetime, why: str = "") -> None:
        super().__init__(why or f"deferred until {until.isoformat()}")
        self.until = until


class LeasesRanOut(Exception):
    """Every attempt's process died (or stalled) holding the job: it may be what kills them."""


class LostClaim(Exception):
    """The job was taken over (this worker's lease ran out): nothing is recorded for it."""


def current_claim() -> ClaimedJob:
    """The claim of the job the calling handler is running."""
    claim = _CLAIM.get()
    if claim is None:
        raise RuntimeError("no outbox job is being run here")
    return claim


class JobWorker:
    name = "jobs"

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Callable[[], datetime],
        poll_seconds: float = 0.25,
        on_result: Callable[[str], None] | None = None,
        units: UnitRunner | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.engine = engine
        self.units: UnitRunner = units if units is not None else DirectUnits(engine)
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.on_result = on_result or (lambda outcome: None)
        self.delivered = 0
        self.failed = 0
        self.lost = 0
        self.lease = lease
        self.holder = this_process()
        self.leases = JobLeases(units=self.units, clock=clock, lease=lease, name=self.name)
        self._handlers: dict[str, tuple[type[Job], Handler[Any]]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy: Callable[[], bool] = lambda: False
        self.stall_after = STALL_AFTER_S
        self._round_started: float | None = None  # time.monotonic() of the round in flight
        self._last_failure: str | None = None  # why the last round failed, if it did

    def yield_to(self, busy: Callable[[], bool]) -> None:
        """Run jobs in the gaps while ``busy()`` says more urgent work is under way.

        The threads of one process share one interpreter lock. Acknowledging a click (and
        recording it) is what Slack waits for; posting what it decided can wait a moment. So
        while clicks arrive, this worker waits in short slices, at most ``MAX_YIELD_S``
        between two jobs, and catches up as soon as they stop.
        """
        self._busy = busy

    def _wait_for_a_gap(self) -> None:
        waited = 0.0
        while waited < MAX_YIELD_S and self._busy() and not self._stop.is_set():
            self._stop.wait(YIELD_SLICE_S)
            waited += YIELD_SLICE_S

    def register(self, job_type: type[J], handler: Handler[J]) -> None:
        self._handlers[job_type.kind] = (job_type, handler)

    def start(self) -> None:
        self._stop.clear()
        try:
            self.release_dead_predecessors()
        except Exception:  # their leases run out anyway
            log.exception("%s: could not release the jobs of dead processes", self.name)
        self.leases.start()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.leases.stop(timeout)

    def release_dead_predecessors(self) -> int:
        """Make the jobs held by dead processes of this host claimable now (a restart does
        not wait out their leases; see ``bot.services.outbox.holders``); how many."""
        kinds, now = list(self._handlers), self.clock()
        with read_connection(self.engine) as connection:
            holders = running_holders(connection, kinds=kinds)
        dead = {holder for holder in holders if known_dead(holder, self.holder)}
        if not dead:
            return 0
        released = self.units.run(
            lambda uow: release_claims(uow.session, holders=dead, kinds=kinds, now=now)
        )
        log.info("%s: %d jobs of dead processes (%s) released", self.name, released,
                 ", ".join(sorted(dead)))  # fmt: skip
        return released

    def wake(self) -> None:
        self._wake.set()

    def health(self) -> tuple[bool, str]:
        """(healthy, what it is doing); see the module's docstring."""
        thread = self._thread
        if thread is not None and not thread.is_alive() and not self._stop.is_set():
            return False, "the worker thread has stopped"
        started = self._round_started
        if started is not None and time.monotonic() - started > self.stall_after:
            return False, f"stuck: one round has run {time.monotonic() - started:.0f} s"
        if self._last_failure is not None:
            return False, f"failing: {self._last_failure}"
        return True, "ok"

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wait_for_a_gap()
            self._round_started = time.monotonic()
            try:
                worked = self.run_once()
                self._last_failure = None
            except Exception as error:  # the loop must survive anything; the job stays queued
                if self._last_failure is None:  # once per outage, not every poll
                    log.exception("%s worker failed; retrying", self.name)
                first_line = (str(error).splitlines() or [""])[0]
                self._last_failure = f"{type(error).__name__}: {first_line}"[:300]
                worked = False
            finally:
                self._round_started = None
            if not worked:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def run_until_idle(self, limit: int = 1000) -> int:
        """Run every due job now; returns how many ran."""
        count = 0
        while count < limit and self.run_once():
            count += 1
        return count

    def run_once(self) -> bool:
        kinds = list(self._handlers)
        with read_connection(self.engine) as connection:
            if not has_due_job(connection, now=self.clock(), kinds=kinds):
                return False
        now = self.clock()
        job = self.units.run(
            lambda uow: claim_next_job(
                uow.session, now=now, kinds=kinds, lease=self.lease, claimed_by=self.holder
            )
        )
        if job is None:
            return False
        with log_context(job=f"{job.kind}:{job.id}"), self.leases.holding(job):
            if job.attempts > MAX_ATTEMPTS:  # taken over after every attempt: never run again
                self._failed(job, LeasesRanOut(f"its lease ran out {MAX_ATTEMPTS} times"))
            else:
                self._run(job)
        return True

    def _run(self, job: ClaimedJob) -> None:
        token = _CLAIM.set(job)
        try:
            job_type, handler = self._handlers[job.kind]
            with log_context(**_about(job)):
                record = handler(parse_job(job_type, job.payload))
        except (NotReady, Deferred) as waiting:
            until = (
                waiting.until if isinstance(waiting, Deferred)
                else self.clock() + WAIT_FOR_DEPENDENCY
            )  # fmt: skip
            self.units.run(lambda uow: postpone_job(uow.session, job=job, until=until))
            if isinstance(waiting, Deferred):
                self.on_result("deferred")
            return
        except Exception as error:  # noqa: BLE001 - every failure is recorded and retried
            self._failed(job, error)
            return
        finally:
            _CLAIM.reset(token)
        done_at = self.clock()

        def done(uow: UnitOfWork) -> None:
            if record is not None:
                record(uow)
            if not finish_job(uow.session, job=job, now=done_at):
                raise LostClaim  # rolls the record back: the job's new holder records it

        try:
            self.units.run(done)
        except LostClaim:
            self.lost += 1
            self.on_result("lost")
            log.warning("%s job %s (%s) was taken over; not recorded here", self.name, job.id,
                        job.kind)  # fmt: skip
            return
        except Exception as error:  # noqa: BLE001 - not recorded: retried like any failure
            self._failed(job, error)
            return
        self.delivered += 1
        self.on_result("delivered")

    def classify(self, error: Exception) -> tuple[bool, timedelta | None]:
        """(permanent, retry_after) for a failure; by default transient, usual backoff."""
        return False, None

    def report(self, uow: UnitOfWork, job: ClaimedJob, error: str) -> None:
        """A job failed for good: subclasses record it where people will see it (inside the
        unit of work that records the failure: only database work)."""

    def _failed(self, job: ClaimedJob, error: Exception) -> None:
        with log_context(**_about(job)):
            self._record_failure(job, error)

    def _record_failure(self, job: ClaimedJob, error: Exception) -> None:
        permanent, retry_after = self.classify(error)
        text = f"{type(error).__name__}: {error}"[:2000]
        now = self.clock()

        def record(uow: UnitOfWork) -> bool | None:
            retrying = fail_job(
                uow.session, job=job, error=text, now=now, retry_after=retry_after,
                permanent=permanent,
            )  # fmt: skip
            if retrying is False:
                self.report(uow, job, text)
            return retrying

        retrying = self.units.run(record)
        if retrying is None:
            self.lost += 1
            self.on_result("lost")
            log.warning("%s job %s (%s) failed after it was taken over: %s", self.name, job.id,
                        job.kind, text)  # fmt: skip
            return
        self.on_result("retried" if retrying else "failed")
        if retrying:
            log.warning("%s job %s (%s) failed, will retry: %s", self.name, job.id, job.kind, text)
        else:
            self.failed += 1
            log.error("%s job %s (%s) failed for good: %s", self.name, job.id, job.kind, text)


def _about(job: ClaimedJob) -> dict[str, str]:
    """The log context of a job's records: the job, and what it is about when its payload
    says (``bot.services.outbox.jobs.job_subject``)."""
    subject = job_subject(job.payload)
    about = {"job": f"{job.kind}:{job.id}"}
    return about if subject is None else {**about, "subject": subject}

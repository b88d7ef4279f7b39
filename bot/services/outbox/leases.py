"""Keeping the outbox jobs a worker is running: their leases renewed while it works.

A claim holds a job for one short lease (``bot.store.outbox.LEASE``), so that a job whose
process died is taken over within seconds. ``JobLeases``' thread renews the lease of the job
in hand three times per lease, so a slow Slack call or a long execution is never taken over
while its process lives; the renewals are fenced by the claim's ``attempts``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from bot.store import UnitOfWork
from bot.store.outbox import ClaimedJob, renew_job_lease
from bot.store.units import UnitRunner

log = logging.getLogger(__name__)


class JobLeases:
    def __init__(
        self, *, units: UnitRunner, clock: Callable[[], datetime], lease: timedelta, name: str
    ) -> None:
        self.units = units
        self.clock = clock
        self.lease = lease
        self.name = name
        self.renewals = 0
        self._held: dict[int, ClaimedJob] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, job: ClaimedJob) -> Iterator[None]:
        """While inside, ``job``'s lease is renewed (once ``start``-ed)."""
        with self._lock:
            self._held[job.id] = job
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(job.id, None)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"{self.name}-lease", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _beat(self) -> None:
        every = self.lease.total_seconds() / 3
        while not self._stop.wait(every):
            with self._lock:
                held = list(self._held.values())
            if not held:
                continue
            try:
                self.renew(held, self.clock())
            except Exception:  # the next beat tries again, well inside the lease
                log.exception("renewing the %s jobs' leases failed", self.name)

    def renew(self, held: list[ClaimedJob], now: datetime) -> None:
        def renew(uow: UnitOfWork) -> list[bool]:
            return [
                renew_job_lease(uow.session, job=job, now=now, lease=self.lease) for job in held
            ]

        for job, renewed in zip(held, self.units.run(renew), strict=True):
            if renewed:
                self.renewals += 1
            else:
                log.warning("%s job %s (%s) is no longer held here", self.name, job.id, job.kind)

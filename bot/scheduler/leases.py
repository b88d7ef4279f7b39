"""Keeping the timers this process runs: their leases renewed while their handlers work.

A claim holds a timer for one lease (``bot.store.timers.LEASE``). ``LeaseKeeper``'s thread
renews the lease of every timer held here three times per lease, so a handler may take as
long as it needs without being taken over; when the process dies the renewals stop, and
another replica claims the timer once the lease has run out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.store import UnitOfWork
from bot.store.timers import Timer, renew_timer_lease
from bot.store.units import UnitRunner

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, *, units: UnitRunner, clock: Clock, lease: timedelta) -> None:
        self.units = units
        self.clock = clock
        self.lease = lease
        self._held: dict[int, Timer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, timer: Timer) -> Iterator[None]:
        """While inside, ``timer``'s lease is renewed (once ``start``-ed)."""
        with self._lock:
            self._held[timer.id] = timer
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(timer.id, None)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="timers-lease", daemon=True)
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
                log.exception("renewing the timers' leases failed")

    def renew(self, held: list[Timer], now: datetime) -> None:
        def renew(uow: UnitOfWork) -> list[bool]:
            return [
                renew_timer_lease(uow.session, timer=timer, now=now, lease=self.lease)
                for timer in held
            ]

        for timer, renewed in zip(held, self.units.run(renew), strict=True):
            if not renewed:
                log.warning("timer %s (%s) is no longer held here", timer.id, timer.kind)

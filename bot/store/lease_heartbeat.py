"""A heartbeat that keeps the leases of the rows this process is working on: claimed outbox
jobs (``bot.services.outbox.leases``) and timers (``bot.scheduler.leases``).

A claim holds its row for one short lease, so that a row whose process died is taken over
within seconds. While a row is held here (``holding``), this thread renews its lease three
times per lease, so slow work is never taken over while its process lives; each renewal is
fenced by the claim (the subclass's ``renew_one``), and a row that was taken over anyway is
logged and let go.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from sqlmodel import Session

from bot.store.unit_of_work import UnitOfWork
from bot.store.units import UnitRunner

log = logging.getLogger(__name__)


class Claimed(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...


C = TypeVar("C", bound=Claimed)


class LeaseHeartbeat(Generic[C]):
    """Renews the leases of the rows held here; ``name`` names its thread and its logs."""

    def __init__(
        self, *, units: UnitRunner, clock: Callable[[], datetime], lease: timedelta, name: str
    ) -> None:
        self.units = units
        self.clock = clock
        self.lease = lease
        self.name = name
        self.renewals = 0
        self._held: dict[int, C] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def renew_one(self, session: Session, claimed: C, now: datetime) -> bool:
        """Extend ``claimed``'s lease from ``now`` if it is still held by this claim."""
        raise NotImplementedError

    @contextmanager
    def holding(self, claimed: C) -> Iterator[None]:
        """While inside, ``claimed``'s lease is renewed (once ``start``-ed)."""
        with self._lock:
            self._held[claimed.id] = claimed
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(claimed.id, None)

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
                log.exception("renewing the %s leases failed", self.name)

    def renew(self, held: list[C], now: datetime) -> None:
        def renew(uow: UnitOfWork) -> list[bool]:
            return [self.renew_one(uow.session, claimed, now) for claimed in held]

        for claimed, renewed in zip(held, self.units.run(renew), strict=True):
            if renewed:
                self.renewals += 1
            else:
                log.warning("%s %s (%s) is no longer held here", self.name, claimed.id,
                            claimed.kind)  # fmt: skip

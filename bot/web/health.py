"""What ``GET /healthz`` reports: the database, and the threads that need it.

Each component answers ``(healthy, detail)``: the database (a ``SELECT 1``), the group
commit's writer (``bot.store.units``) and the delivery and executor workers
(``bot.worker``). The probe of the database runs on a thread of its own and is waited for at
most ``within`` seconds, one at a time: a silent connection makes ``/healthz`` answer 503 in
bounded time instead of hanging with it, however often it is asked (while a probe has gone
unanswered for longer, ``/healthz`` says so at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy import Engine, text

Component = Callable[[], tuple[bool, str]]
PROBE_WITHIN_S = 2.0


class DatabaseProbe:
    """``check()``: whether the database answers ``SELECT 1`` within ``within`` seconds."""

    def __init__(self, engine: Engine, *, within: float = PROBE_WITHIN_S) -> None:
        self.engine, self.within = engine, within
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthz-probe")
        self._lock = threading.Lock()
        self._probe: Future[None] | None = None
        self._probe_started = 0.0

    def _select_one(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def check(self) -> tuple[bool, str]:
        with self._lock:  # one probe in flight: callers share it
            if self._probe is None or self._probe.done():
                self._probe = self._pool.submit(self._select_one)
                self._probe_started = time.monotonic()
            probe, waited = self._probe, time.monotonic() - self._probe_started
        try:
            probe.result(timeout=max(0.0, self.within - waited))
        except FutureTimeout:
            waited = time.monotonic() - self._probe_started
            return False, f"no answer for {waited:.1f} s"
        except Exception as error:  # noqa: BLE001 - any failure means unreachable
            return False, f"unreachable: {type(error).__name__}"
        return True, "ok"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def health_report(components: Mapping[str, Component]) -> tuple[dict[str, Any], int]:
    """The JSON body and status of ``/healthz``: 200 when every component is healthy, 503
    with a ``reason`` naming those that are not."""
    body: dict[str, Any] = {"status": "ok"}
    reasons = []
    for name, component in components.items():
        healthy, detail = component()
        body[name] = detail
        if not healthy:
            reasons.append(f"{name}: {detail}")
    if reasons:
        body["status"] = "unhealthy"
        body["reason"] = "; ".join(reasons)
        return body, 503
    return body, 200

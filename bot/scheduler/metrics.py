"""What ``/metrics`` says about time-driven work.

Per process: how late due work started (``started_at - due_at``, by kind), timers run by
kind and outcome, and this replica's id. Read from the database at each scrape, so every
replica answers alike: which replica claimed the latest timer of each kind (and when), and
how many timers are due but not claimed yet (work piling up means no replica is running it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from bot.clock import Clock
from bot.scheduler.worker import TimerObserver
from bot.store import read_connection
from bot.store.timers import Timer, due_timer_count, last_runs

log = logging.getLogger(__name__)
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 300, 3600)


class TimerMetrics(TimerObserver):
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        replica: str,
        engine: Engine,
        kinds: Callable[[], Collection[str]],
        clock: Clock,
    ) -> None:
        self.lateness = Histogram(
            "releasebot_timer_lateness_seconds",
            "How late due work started: a claim's time minus the timer's due time, by kind",
            ["kind"],
            registry=registry,
            buckets=LATENESS_BUCKETS,
        )
        self.runs = Counter(
            "releasebot_timers_run",
            "Timers run by this replica, by kind and outcome (done, retried, failed, lost)",
            ["kind", "outcome"],
            registry=registry,
        )
        replica_info = Info("releasebot_replica", "This replica's id", registry=registry)
        replica_info.info({"replica": replica})
        registry.register(_TimersInDatabase(engine, kinds, clock))

    def claimed(self, timer: Timer) -> None:
        late = (timer.started_at - timer.due_at).total_seconds()
        self.lateness.labels(kind=timer.kind).observe(max(0.0, late))

    def finished(self, timer: Timer, outcome: str) -> None:
        self.runs.labels(kind=timer.kind, outcome=outcome).inc()


class _TimersInDatabase(Collector):
    def __init__(self, engine: Engine, kinds: Callable[[], Collection[str]], clock: Clock) -> None:
        self.engine = engine
        self.kinds = kinds
        self.clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Declared without reading the database (registering calls this).
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        last, due = self._families()
        kinds = list(self.kinds())
        try:
            with read_connection(self.engine) as connection:
                runs = last_runs(connection, kinds=kinds)
                waiting = due_timer_count(connection, now=self.clock(), kinds=kinds)
        except Exception:  # noqa: BLE001 - /metrics still answers, without these
            log.warning("reading the timers for /metrics failed", exc_info=True)
            return
        for kind, (replica, started_at) in sorted(runs.items()):
            last.add_metric([kind, replica], started_at.timestamp())
        due.add_metric([], float(waiting))
        yield last
        yield due

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        last = GaugeMetricFamily(
            "releasebot_timer_last_run_timestamp_seconds",
            "When the latest timer of each kind was claimed, and by which replica",
            labels=["kind", "replica"],
        )
        due = GaugeMetricFamily(
            "releasebot_timers_due", "Timers due now and not claimed by any replica yet"
        )
        return last, due

"""``/metrics``' process-health figures: histograms of the process's durations and counters of
rollbacks and drills, labelled by runbook only (a bounded set), computed from the trail.

At the first scrape the whole trail's process events are folded (``bot.core.process_health``,
streamed by kind); each later scrape folds only the events appended since (by seq, which
appends assign in commit order under the chain lock). So the figures are the trail's, the
same on every replica and after a restart, and each recorded event counts at the next scrape.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from bot.core.process_health import (
    COUNTS,
    DESCRIPTIONS,
    DURATIONS,
    HEALTH_KINDS,
    HealthFold,
    Observation,
)
from bot.store import read_connection
from bot.store.learning import stream_learning_events

log = logging.getLogger(__name__)
SECONDS_BUCKETS = (
    1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800,
)  # fmt: skip
SCORE_BUCKETS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
# figure -> metric name (histograms: *_seconds; counters: *_total added by the family)
METRIC_NAMES = {
    "readiness": "releasebot_readiness_review_seconds",
    "go_no_go_decision": "releasebot_go_no_go_decision_seconds",
    "first_vote": "releasebot_rollback_first_vote_seconds",
    "quorum": "releasebot_rollback_decision_seconds",
    "execution": "releasebot_rollback_execution_seconds",
    "recovery": "releasebot_rollback_recovery_seconds",
    "drill_detection": "releasebot_drill_detection_seconds",
    "drill_first_response": "releasebot_drill_first_response_seconds",
    "drill_decision": "releasebot_drill_decision_seconds",
    "drill_score": "releasebot_drill_score",
    "rollbacks_recommended": "releasebot_rollbacks_recommended",
    "rollbacks_approved": "releasebot_rollbacks_approved",
    "rollbacks_executed": "releasebot_rollbacks_executed",
    "rollbacks_validated": "releasebot_rollbacks_validated",
    "rollbacks_recovered": "releasebot_rollbacks_recovered",
    "drills_started": "releasebot_drills_started",
}


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.bounds)
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1
        self.total += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        counts = self.counts or [0] * len(self.bounds)
        return [
            *((f"{bound:g}", float(n)) for bound, n in zip(self.bounds, counts, strict=True)),
            ("+Inf", float(self.count)),
        ]


class ProcessHealthCollector(Collector):
    """Registered on the bot's registry; folds the trail's new events at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.last_seq = 0
        self.histograms: dict[str, dict[str, _Histogram]] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.fold = HealthFold(self._observe)

    def _observe(self, observation: Observation) -> None:
        name, runbook = observation.figure, observation.runbook
        if name in COUNTS:
            by_runbook = self.counters.setdefault(name, {})
            by_runbook[runbook] = by_runbook.get(runbook, 0) + 1
            return
        bounds = SCORE_BUCKETS if name == "drill_score" else SECONDS_BUCKETS
        histograms = self.histograms.setdefault(name, {})
        histograms.setdefault(runbook, _Histogram(tuple(float(b) for b in bounds)))
        if math.isfinite(observation.value):
            histograms[runbook].observe(observation.value)

    def catch_up(self) -> None:
        """Fold the process events appended since the last scrape (all of them, the first time)."""
        with self.lock, read_connection(self.engine) as connection:
            for event in stream_learning_events(
                connection, kinds=HEALTH_KINDS, after_seq=self.last_seq
            ):
                self.fold.feed(event)
                self.last_seq = event.seq

    def describe(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily]:
        return iter(())  # no reading the database when registering

    def collect(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily]:
        try:
            self.catch_up()
        except Exception:  # noqa: BLE001 - /metrics still answers, with what was folded
            log.warning("reading the trail for /metrics failed", exc_info=True)
        with self.lock:
            for name in (*DURATIONS, "drill_score"):
                family = HistogramMetricFamily(
                    METRIC_NAMES[name], f"Process health: {DESCRIPTIONS[name]}", labels=["runbook"]
                )
                for runbook, histogram in sorted(self.histograms.get(name, {}).items()):
                    family.add_metric([runbook], histogram.buckets(), histogram.total)
                yield family
            for name in COUNTS:
                counter = CounterMetricFamily(
                    METRIC_NAMES[name], f"Process health: {DESCRIPTIONS[name]}", labels=["runbook"]
                )
                for runbook, count in sorted(self.counters.get(name, {}).items()):
                    counter.add_metric([runbook], float(count))
                yield counter

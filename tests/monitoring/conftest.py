"""One real Prometheus for the client's tests, holding a known half hour of data from T0."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.prometheus_server import MetricSeries, PrometheusServer, running_prometheus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MINUTES = 30


def every_minute(value_at: dict[int, float] | None = None, *, default: float = 0.0) -> list:
    return [
        (T0 + timedelta(minutes=i), (value_at or {}).get(i, default)) for i in range(MINUTES + 1)
    ]


def ranking_error_rate(minute: int) -> float:
    """The ranking model's error rate: 1 % rising by 0.1 point a minute."""
    return round(0.01 + 0.001 * minute, 6)


SERIES = [
    MetricSeries(
        "error_rate",
        {"job": "ranking"},
        [(T0 + timedelta(minutes=i), ranking_error_rate(i)) for i in range(MINUTES + 1)],
    ),
    MetricSeries("error_rate", {"job": "fraud"}, every_minute(default=0.002)),
    MetricSeries("idle_ratio", {"job": "ranking"}, every_minute(default=math.nan)),
    MetricSeries("per_request", {"job": "ranking"}, every_minute(default=math.inf)),
    # NaN on odd minutes: a range over it has gaps, not values
    MetricSeries(
        "flaky_ratio",
        {"job": "ranking"},
        every_minute({i: (math.nan if i % 2 else 0.5) for i in range(MINUTES + 1)}),
    ),
    MetricSeries(
        "requests_total",
        {"job": "ranking"},
        [(T0 + timedelta(minutes=i), 600.0 * i) for i in range(MINUTES + 1)],
        kind="counter",
    ),
]


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), SERIES) as server:
        yield server

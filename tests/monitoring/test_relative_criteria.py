"""A relative criterion end to end, against a REAL Prometheus: "the canary's error rate at
most 20 % worse than the baseline's" (margin 5 points, 3 samples). The canary drifts 5 %
above the baseline (noise), then 40 % (a breach, recommended with the arithmetic shown); a
criterion whose baseline matches nothing is insufficient data with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.devtools.sandbox import Sandbox
from tests.hooks.support import MovableClock
from tests.monitoring.test_query_backed_criteria import T0, at_minute
from tests.prometheus_server import MetricSeries, PrometheusServer, running_prometheus
from tests.slack.rollback_support import wait_until
from tests.slack.support import Bot

ROLLBACK = "rollback:1"


def canary(minute: int) -> float:
    """5 % above the baseline's 1 % until 09:09, then 40 % above it."""
    return 0.014 if minute >= 10 else 0.0105


SERIES = [
    MetricSeries(
        "request_error_ratio",
        {"track": track},
        [(T0 + timedelta(minutes=m), value(m)) for m in range(0, 31)],
    )
    for track, value in (("canary", canary), ("baseline", lambda m: 0.01))
]

RUNBOOK = """
id: ranking-model
version: 1
channels: ["C0RANKREL"]
roles:
  oncall: ["S0ONCALL"]
criteria:
  - metric: canary_vs_baseline
    description: the canary's error rate, in % above the baseline's
    query: 'request_error_ratio{track="canary"}'
    baseline_query: 'request_error_ratio{track="baseline"}'
    compare: percent
    above: 20
    margin: 5
    interval: 1m
    sustain: 3
    stale_after: 5m
    severity: high
  - metric: canary_vs_shadow
    query: 'request_error_ratio{track="canary"}'
    baseline_query: 'request_error_ratio{track="shadow"}'
    compare: absolute
    above: 0.002
    margin: 0.0005
    interval: 1m
    sustain: 3
    stale_after: 5m
    severity: medium
paths:
  - id: shift-to-baseline
    title: Send all traffic back to the baseline
    kind: traffic_shift
    covers: critical
    impact: {revenue: 1, customer: 1, regulatory: 0}
    approval: {roles: {oncall: 1}, expires_after: 1h}
    executor: {type: dry-run}
    validation: {metric: canary_vs_baseline, window: 3m, endorse_role: oncall}
cooldown: 30m
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), SERIES) as server:
        yield server


def test_a_canary_worse_than_its_baseline_is_recommended_with_the_arithmetic(
    database_url: str, tmp_path: Path, prometheus: PrometheusServer
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = RUNBOOK + f"prometheus: {{url: '{prometheus.url}'}}\n"
    (folder / "ranking-model.yaml").write_text(text)
    clock = MovableClock(T0 + timedelta(minutes=5, seconds=30))
    with Sandbox.start(database_url=database_url, runbooks_dir=folder, clock=clock) as sandbox:
        bot = Bot(sandbox)
        for minute in range(6, 12):  # +5 % (inside the band), then +40 % twice
            at_minute(sandbox, clock, minute)
        assert bot.trail_kinds(ROLLBACK) == []
        at_minute(sandbox, clock, 12)  # the third sample beyond +25 %
        wait_until(lambda: "rollback.recommended" in bot.trail_kinds(ROLLBACK), sandbox)
        message = bot.transcript()
        assert "canary_vs_baseline` at 40, above threshold 20 + margin 5 = 25" in message
        assert "(canary 0.014 − baseline 0.01) / 0.01 × 100 = +40 %" in message
        assert "returned 0.014 vs 0.01 at 09:12" in message
        assert "canary_vs_shadow" in message
        assert "the baseline query: the query returned no series" in message
        recommended = bot.trail(ROLLBACK)[0]
        criteria = {metric: state for metric, state, _ in recommended.payload["criteria"]}
        assert criteria == {
            "canary_vs_baseline": "breach",
            "canary_vs_shadow": "insufficient_data",
        }

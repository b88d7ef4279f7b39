"""Query-backed criteria against a REAL Prometheus (Debian's, data backfilled by promtool).

The bot runs as in production (the sandbox: emulator as Slack, signed HTTP); its clock is
moved minute by minute and the due timers run at each minute, so every ``prometheus.query``
slot asks Prometheus about a known minute. The error rate breaches, the bot recommends,
an approver approves in Slack, the dry-run path runs, and the validation window, polled by
the same query, shows the recovery. A second criterion's query matches nothing: it is
reported as insufficient data with the reason, never as healthy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.devtools.sandbox import Sandbox
from bot.store import session_scope
from bot.store.query_readings import latest_readings
from bot.store.samples import SAMPLES
from tests.hooks.support import MovableClock
from tests.prometheus_server import MetricSeries, PrometheusServer, running_prometheus
from tests.slack.rollback_support import wait_until
from tests.slack.support import RANKING, Bot

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROLLBACK = "rollback:1"


def error_ratio(minute: int) -> float:
    """1 % until 09:10, 5 % from 09:10 to 09:12, then 0.5 % (the rollback worked)."""
    return 0.05 if 10 <= minute <= 12 else (0.01 if minute < 10 else 0.005)


SERIES = [
    MetricSeries(
        "ranking_error_ratio",
        {"job": "ranking"},
        [(T0 + timedelta(minutes=m), error_ratio(m)) for m in range(0, 41)],
    )
]

RUNBOOK = """
id: ranking-model
version: 1
channels: ["C0RANKREL"]
roles:
  oncall: ["S0ONCALL"]
  release_champion: ["U0ALICE"]
criteria:
  - metric: error_rate
    query: 'ranking_error_ratio{job="ranking"}'
    interval: 1m
    above: 0.02
    margin: 0.005
    sustain: 3
    stale_after: 5m
    severity: high
  - metric: queue_depth
    query: 'ranking_queue_depth{job="ranking"}'
    interval: 1m
    above: 100
    margin: 10
    sustain: 3
    stale_after: 5m
    severity: medium
paths:
  - id: previous-model
    title: Replace the model with the previous version
    kind: model_replacement
    covers: critical
    impact: {revenue: 2, customer: 2, regulatory: 0}
    approval: {roles: {oncall: 1}, expires_after: 1h}
    executor: {type: dry-run}
    validation: {metric: error_rate, window: 3m, endorse_role: release_champion}
cooldown: 30m
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), SERIES) as server:
        yield server


def runbook_dir(tmp_path: Path, prometheus_url: str) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = RUNBOOK + f"prometheus: {{url: '{prometheus_url}'}}\n"
    (folder / "ranking-model.yaml").write_text(text)
    return folder


def at_minute(sandbox: Sandbox, clock: MovableClock, minute: int) -> None:
    """Move the bot's clock to 09:MM and run what is due then (the polls of that minute)."""
    clock.now = T0 + timedelta(minutes=minute)
    sandbox.runtime.scheduler.run_due(clock.now)
    wait_until(lambda: polled_until(sandbox) >= clock.now, sandbox)


def polled_until(sandbox: Sandbox) -> datetime:
    with session_scope(sandbox.runtime.engine) as session:
        readings = latest_readings(session, runbook_id="ranking-model")
    return min((r.at for r in readings.values()), default=T0)


def test_a_query_backed_criterion_breaches_recommends_and_validates(
    database_url: str, tmp_path: Path, prometheus: PrometheusServer
) -> None:
    clock = MovableClock(T0 + timedelta(minutes=5, seconds=30))
    runbooks = runbook_dir(tmp_path, prometheus.url)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        for minute in range(6, 12):  # 1 % until 09:09, then 5 % at 09:10 and 09:11
            at_minute(sandbox, clock, minute)
        assert bot.trail_kinds(ROLLBACK) == []  # two samples beyond: not sustained yet
        at_minute(sandbox, clock, 12)  # the third
        wait_until(lambda: "rollback.recommended" in bot.trail_kinds(ROLLBACK), sandbox)
        message = bot.transcript()
        assert "Rollback recommended" in message
        assert 'query `ranking_error_ratio{job="ranking"}` returned 0.05 at 09:12' in message
        # the query that matches nothing: insufficient data, with the reason, never healthy
        assert "queue_depth" in message and "empty_result" in message
        recommended = bot.trail(ROLLBACK)[0]
        criteria = {metric: state for metric, state, _ in recommended.payload["criteria"]}
        assert criteria == {"error_rate": "breach", "queue_depth": "insufficient_data"}

        bot.driver.click("U0BRUNO", RANKING, "Approve")
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
        for minute in range(13, 16):  # the validation window (3m), polled by the same query
            at_minute(sandbox, clock, minute)
        wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)
        validated = next(e for e in bot.trail(ROLLBACK) if e.kind == "rollback.validated")
        assert validated.payload["outcome"] == "recovered"
        assert (
            'query `ranking_error_ratio{job="ranking"}` returned 0.005'
            in (validated.payload["explanation"])
        )
        assert "Recovered" in bot.transcript()
        assert "Recovered means back under 0.015" in bot.transcript()
        # the validation asks the query at the window's end: its answer is in the message
        assert 'query `ranking_error_ratio{job="ranking"}` returned 0.005 at 09:15' in (
            bot.transcript()
        )
        assert "0.005 at 09:13, 0.005 at 09:14, 0.005 at 09:15" in validated.payload["explanation"]
        with session_scope(sandbox.runtime.engine) as session:
            sources = {row.source for row in session.connection().execute(SAMPLES.select()).all()}
        assert sources == {"prometheus"}

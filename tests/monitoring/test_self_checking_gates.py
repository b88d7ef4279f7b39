"""Self-checking readiness gates end to end: signed HTTP through the Slack emulator, a REAL
Prometheus (data backfilled by promtool) and the timers run at a controlled clock.

The shipped ranking-model's two canary gates get checks: "Error rate under 2% for one hour"
(held: the bot proposes Pass) and "p99 latency under 300 ms for one hour" (a spike: the bot
proposes Fail). The owner role confirms the first with one click; Pass on the second
overrides the bot, so it asks why first. Proposals, evidence and the override are in the
trail; once no checked gate is open, the checks stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.devtools.sandbox import Sandbox
from tests.hooks.support import MovableClock
from tests.prometheus_server import MetricSeries, PrometheusServer, running_prometheus
from tests.slack.rollback_support import wait_until
from tests.slack.support import RANKING, Bot, copy_runbooks

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
SERIES = [
    MetricSeries(
        "ranking_error_ratio",
        {"job": "canary"},
        [(T0 + timedelta(minutes=m), 0.011 + (m % 5) * 0.001) for m in range(0, 61)],
    ),
    MetricSeries(
        "ranking_latency_p99_ms",
        {"job": "canary"},
        [(T0 + timedelta(minutes=m), 340.0 if m == 30 else 250.0) for m in range(0, 61)],
    ),
]
CHECKS = {
    "          title: p99 latency under 300 ms for one hour\n          owner: search_sre\n": (
        "          check: {query: 'ranking_latency_p99_ms{job=\"canary\"}', below: 300, for: 1h}\n"
    ),
    "          title: Error rate under 2% for one hour\n          owner: search_sre\n": (
        "          check: {query: 'ranking_error_ratio{job=\"canary\"}', below: 0.02, for: 1h}\n"
    ),
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), SERIES) as server:
        yield server


def checked_runbooks(tmp_path: Path, url: str) -> Path:
    folder = copy_runbooks(tmp_path, {})
    path = folder / "ranking-model.yaml"
    text = path.read_text()
    for gate, check in CHECKS.items():
        assert gate in text
        text = text.replace(gate, gate + check)
    path.write_text(text + f"\nprometheus: {{url: '{url}'}}\n")
    return folder


def test_gates_propose_pass_or_fail_and_the_owner_confirms_or_overrides(
    database_url: str, tmp_path: Path, prometheus: PrometheusServer
) -> None:
    clock = MovableClock(NOW)
    folder = checked_runbooks(tmp_path, prometheus.url)
    with Sandbox.start(database_url=database_url, runbooks_dir=folder, clock=clock) as sandbox:
        bot = Bot(sandbox)
        bot.start_ranking_review()
        sandbox.runtime.scheduler.run_due(NOW)  # the first check, due at the start
        wait_until(lambda: bot.trail_kinds().count("gate.check_proposed") == 2, sandbox)
        proposed = {e.payload["gate"]: e.payload for e in bot.trail() if
                    e.kind == "gate.check_proposed"}  # fmt: skip
        assert proposed["canary-errors"]["proposal"] == "pass"
        assert proposed["canary-latency"]["proposal"] == "fail"
        checklist = bot.transcript()
        assert (
            'The bot proposes Pass: `ranking_error_ratio{job="canary"}` stayed under 0.02 '
            "for 1h: 61 values from 09:00 to 10:00, highest 0.015" in checklist
        )
        assert (
            'The bot proposes Fail: `ranking_latency_p99_ms{job="canary"}` was 340 at 09:30 '
            '(1 of 61 values outside); needed `ranking_latency_p99_ms{job="canary"}` under '
            "300 for 1h" in checklist
        )
        # a proposal is not a mark: both gates are still open for their owners
        assert "gate.passed" not in bot.trail_kinds() and "gate.failed" not in bot.trail_kinds()

        # the owner confirms the proposed Pass with one click
        assert bot.driver.click("U0DMITRI", RANKING, "Pass", match="canary-errors").status == 200
        sandbox.settle()
        confirmed = next(e for e in bot.trail() if e.kind == "gate.passed")
        assert confirmed.actor == "U0DMITRI"
        assert confirmed.payload["proposal"] == "pass"
        assert confirmed.payload["override"] is False
        assert "stayed under 0.02" in confirmed.payload["evidence"]
        assert "confirming the bot's proposal" in bot.transcript()

        # Pass against a proposed Fail is an override: the modal asks why first
        assert bot.driver.click("U0ELENA", RANKING, "Pass", match="canary-latency").status == 200
        sandbox.settle()
        assert bot.trail_kinds().count("gate.passed") == 1  # nothing recorded yet
        assert bot.slack.views("U0ELENA")[-1].view["callback_id"] == "reason_modal"
        bot.driver.submit_view("U0ELENA", values={"reason": "the 09:30 spike was a load test"})
        sandbox.settle()
        overridden = [e for e in bot.trail() if e.kind == "gate.passed"][-1]
        assert overridden.actor == "U0ELENA"
        assert overridden.payload["override"] is True
        assert overridden.payload["proposal"] == "fail"
        assert overridden.payload["reason"] == "the 09:30 spike was a load test"
        assert "was 340 at 09:30" in overridden.payload["evidence"]
        assert "overriding the bot's proposal (Fail)" in bot.transcript()

        # no checked gate is open any more: the next check cancels the series
        clock.now = NOW + timedelta(minutes=1)
        sandbox.runtime.scheduler.run_due(clock.now)
        wait_until(
            lambda: (
                not any(kind == "gate.check" for kind, _ in sandbox.runtime.scheduler.open_timers())
            ),
            sandbox,
        )
        assert bot.trail_kinds().count("gate.check_proposed") == 2

"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) notifies the real bot.

The bot runs as in production (``bootstrap.build``, waitress on a free port, the local Slack
emulator as Slack); Alertmanager gets a webhook receiver with the bearer token, an alert is
posted to its v2 API, and the test waits until the bot has stored the sample and posted a
rollback recommendation to Slack. Resolving the alert then delivers a second sample, at the
alert's end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.bootstrap import Runtime
from bot.clock import utc_now
from bot.core.criteria import Sample
from bot.devtools.emulator import SlackEmulator, default_seed
from bot.store import read_connection, trail_for_subject
from bot.store.samples import recent_samples
from bot.store.tables import RollbackRecommendation
from bot.web.server import BackgroundServer
from tests.hooks.alertmanager import (
    Alertmanager,
    alertmanager_binary,
    iso,
    three_values_re_sent,
    wait_for,
)
from tests.hooks.support import EPOCH, TOKEN, build_runtime
from tests.slack.support import copy_runbooks

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def start_bot(
    database_url: str, runbooks: Path, slack: SlackEmulator
) -> tuple[Runtime, BackgroundServer]:
    runtime = build_runtime(
        database_url,
        hook_token=TOKEN,
        clock=utc_now,
        slack_api_url=slack.api_url,
        slack_bot_token=slack.bot_token,
        token_verification=True,
        runbooks_dir=runbooks,
    )
    runtime.start()
    return runtime, BackgroundServer(runtime.web_app).start()


@pytest.fixture
def running_bot(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[Runtime, BackgroundServer, SlackEmulator]]:
    # one sample beyond the margin is a breach here, so one alert makes a recommendation
    runbooks = copy_runbooks(
        tmp_path,
        {
            "ranking-model.yaml": (
                "    sustain: 3                        # three consecutive samples",
                "    sustain: 1",
            )
        },
    )
    with SlackEmulator(default_seed()) as slack:
        runtime, server = start_bot(database_url, runbooks, slack)
        try:
            yield runtime, server, slack
        finally:
            server.stop()
            runtime.stop()


def stored(runtime: Runtime) -> list[Sample]:
    with read_connection(runtime.engine) as connection:
        return recent_samples(connection, runbook_id="ranking-model", since=EPOCH)


def test_alertmanager_notifies_the_bot_which_recommends_a_rollback(
    running_bot: tuple[Runtime, BackgroundServer, SlackEmulator], tmp_path: Path
) -> None:
    binary = alertmanager_binary()
    runtime, server, slack = running_bot
    alertmanager = Alertmanager(binary, tmp_path, [server.url + "/hooks/alertmanager"], TOKEN)
    alert = {
        "labels": {
            "alertname": "RankingErrorRate",
            "runbook": "ranking-model",
            "metric": "error_rate",
            "severity": "critical",
        },
        "annotations": {"value": "0.041", "summary": "ranking error rate above 2%"},
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=error_rate",
    }
    try:
        alertmanager.start()
        posted = utc_now()
        alertmanager.post_alerts([{**alert, "startsAt": iso(posted)}])
        [firing] = wait_for(
            "the firing sample stored", lambda: stored(runtime), 30, alertmanager.log
        )
        assert (firing.metric, firing.value) == ("error_rate", 0.041)
        assert posted <= firing.at <= utc_now()  # received "now": Alertmanager gives no time
        assert firing.since == posted  # the alert vouches for its condition since startsAt
        [recommendation] = slack.wait_for_calls("chat.postMessage", count=1, timeout=10)
        assert recommendation.args["channel"] == "C0RANKREL"
        assert "Rollback recommended" in str(recommendation.args["text"])

        ended = utc_now()
        resolved_alert = {**alert, "annotations": {"value": "0.012"}}
        alertmanager.post_alerts(
            [{**resolved_alert, "startsAt": iso(posted), "endsAt": iso(ended)}]
        )
        samples = wait_for(
            "the resolved sample stored",
            lambda: both if len(both := stored(runtime)) == 2 else None,
            30,
            alertmanager.log,
        )
        assert samples[1] == Sample("error_rate", 0.012, ended)  # at the alert's end
    finally:
        alertmanager.stop()
    counted = runtime.metrics.registry.get_sample_value(
        "releasebot_hook_requests_total", {"hook": "alertmanager", "status": "202"}
    )
    assert counted is not None and counted >= 2
    assert alertmanager.process is not None and alertmanager.process.poll() is not None


def recommendations(runtime: Runtime) -> int:
    with read_connection(runtime.engine) as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(RollbackRecommendation)
            ).scalar_one()
        )


def test_alertmanager_re_sending_one_alert_is_one_observation(
    database_url: str, tmp_path: Path
) -> None:
    """Alertmanager re-sends the firing alert every second (group_interval and repeat_interval
    of 1s); the runbook needs 3 samples: only the third distinct value declares the breach."""
    binary = alertmanager_binary()
    with SlackEmulator(default_seed()) as slack:
        runtime, server = start_bot(database_url, RUNBOOKS, slack)
        url = server.url + "/hooks/alertmanager"
        try:
            with Alertmanager(binary, tmp_path, [url], TOKEN, repeat_interval="1s") as manager:
                three_values_re_sent(
                    manager,
                    values=lambda: [s.value for s in stored(runtime)],
                    recommendations=lambda: recommendations(runtime),
                    deliveries=4,
                )
            first = stored(runtime)[0]
            assert first.seen_until is not None  # confirmed by every re-send
            assert first.seen_until > first.at + timedelta(seconds=2)
            slack.wait_for_calls("chat.postMessage", count=1, timeout=10)
        finally:
            server.stop()
            runtime.stop()
    assert recommendations(runtime) == 1
    with read_connection(runtime.engine) as connection:
        [recommended, *_] = trail_for_subject(connection, subject="rollback:1")
    assert recommended.kind == "rollback.recommended"
    [error_rate] = [c for c in recommended.payload["criteria"] if c[0] == "error_rate"]
    assert error_rate[1] == "breach" and "the last 3 samples (0.041 at" in error_rate[2]

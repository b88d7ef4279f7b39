"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) notifies the real bot.

The bot runs as in production (``bootstrap.build``, waitress on a free port, the local Slack
emulator as Slack); Alertmanager gets a webhook receiver with the bearer token, an alert is
posted to its v2 API, and the test waits until the bot has stored the sample and posted a
rollback recommendation to Slack. Resolving the alert then delivers a second sample, at the
alert's end.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.bootstrap import Runtime
from bot.clock import utc_now
from bot.core.criteria import Sample
from bot.emulator import SlackEmulator, default_seed
from bot.store import read_connection
from bot.store.samples import recent_samples
from bot.web.server import BackgroundServer
from tests.hooks.support import EPOCH, TOKEN, build_runtime
from tests.slack.support import copy_runbooks

BINARY = "/usr/bin/prometheus-alertmanager"
T = TypeVar("T")


def alertmanager_binary() -> str | None:
    return BINARY if Path(BINARY).exists() else shutil.which("prometheus-alertmanager")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float, log: Path) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout:.0f} s; Alertmanager's log:\n{log.read_text()[-4000:]}")


class Alertmanager:
    """One Alertmanager process on 127.0.0.1, gossip off, its state in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, webhook_url: str, token: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = workdir / "alertmanager.log"
        config = {
            "route": {
                "receiver": "releasebot",
                "group_by": ["alertname", "runbook"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "releasebot",
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": token}},
                        }
                    ],
                }
            ],
        }
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.command = [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(self.command, stdout=output, stderr=subprocess.STDOUT)
        wait_for("Alertmanager ready", self._ready, 30, self.log)

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"Alertmanager exited {self.process.returncode}:\n{self.log.read_text()}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            self.url + "/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

    def stop(self) -> None:
        """Terminate by PID, then kill if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


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
        server = BackgroundServer(runtime.web_app).start()
        try:
            yield runtime, server, slack
        finally:
            server.stop()
            runtime.stop()


def stored(runtime: Runtime) -> list[Sample]:
    with read_connection(runtime.engine) as connection:
        return recent_samples(connection, runbook_id="ranking-model", since=EPOCH)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_alertmanager_notifies_the_bot_which_recommends_a_rollback(
    running_bot: tuple[Runtime, BackgroundServer, SlackEmulator], tmp_path: Path
) -> None:
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip(
            f"Alertmanager is not installed ({BINARY}: apt-get install prometheus-alertmanager)"
        )
    runtime, server, slack = running_bot
    alertmanager = Alertmanager(binary, tmp_path, server.url + "/hooks/alertmanager", TOKEN)
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

"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) for the tests: one
process on 127.0.0.1, gossip off, its state in a tmp dir, started and stopped by its PID."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

BINARY = "/usr/bin/prometheus-alertmanager"
T = TypeVar("T")


def alertmanager_binary() -> str:
    """The binary, or skip: CI installs it (``.ci/run``)."""
    found = BINARY if Path(BINARY).exists() else shutil.which("prometheus-alertmanager")
    if found is None:
        pytest.skip(
            f"Alertmanager is not installed ({BINARY}: apt-get install prometheus-alertmanager)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def wait_for(what: str, check: Callable[[], T | None], timeout: float, log: Path) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout:.0f} s; Alertmanager's log:\n{log.read_text()[-4000:]}")


class Alertmanager:
    """Alertmanager notifying every URL of ``webhook_urls`` (each gets every notification)."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        webhook_urls: Sequence[str],
        token: str,
        *,
        group_interval: str = "1s",
        repeat_interval: str = "1h",
    ) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = workdir / "alertmanager.log"
        config = {
            "route": {
                "receiver": "releasebot",
                "group_by": ["alertname", "runbook"],
                "group_wait": "1s",
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
            },
            "receivers": [
                {
                    "name": "releasebot",
                    "webhook_configs": [
                        {
                            "url": url,
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": token}},
                        }
                        for url in webhook_urls
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

    def __enter__(self) -> Alertmanager:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

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

    def notifications(self) -> int:
        """Webhook notifications sent so far (to all URLs), from Alertmanager's own metrics."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as answer:
            text = answer.read().decode()
        found = re.search(
            r'^alertmanager_notifications_total\{integration="webhook"[^}]*\} (\S+)$', text, re.M
        )
        return int(float(found.group(1))) if found else 0

    def wait_for_notifications(self, count: int, timeout: float = 30) -> int:
        return wait_for(
            f"{count} notifications sent",
            lambda: sent if (sent := self.notifications()) >= count else None,
            timeout,
            self.log,
        )

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


def ranking_alert(value: float, starts_at: datetime) -> dict[str, Any]:
    """An alert of the ranking model's error rate, as Prometheus posts it to Alertmanager."""
    return {
        "labels": {
            "alertname": "RankingErrorRate",
            "runbook": "ranking-model",
            "metric": "error_rate",
            "severity": "critical",
        },
        "annotations": {"value": str(value), "summary": "ranking error rate above 2%"},
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=error_rate",
        "startsAt": iso(starts_at),
    }


def three_values_re_sent(
    manager: Alertmanager,
    *,
    values: Callable[[], list[float]],
    recommendations: Callable[[], int],
    deliveries: int,
) -> None:
    """The scenario of the re-send tests, for a runbook whose rule needs 3 samples: each of
    two values is stored once, then re-sent ``deliveries`` times without a recommendation;
    the third value makes the recommendation."""
    starts = datetime.now(UTC) - timedelta(minutes=1)
    for sent in ([0.041], [0.041, 0.05]):
        manager.post_alerts([ranking_alert(sent[-1], starts)])
        wait_for(f"value {sent[-1]} stored", lambda s=sent: values() == s, 30, manager.log)
        manager.wait_for_notifications(manager.notifications() + deliveries)
        assert values() == sent  # the re-sends are no new observation
        assert recommendations() == 0, "a breach before the rule's third sample"
    manager.post_alerts([ranking_alert(0.06, starts)])
    wait_for("the recommendation", recommendations, 30, manager.log)
    assert values() == [0.041, 0.05, 0.06]
    manager.wait_for_notifications(manager.notifications() + deliveries)

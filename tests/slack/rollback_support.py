"""The rollback tests' world: an executor webhook receiver, runbooks that use it, alerts and
samples sent to the hooks, and waiting for the bot."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bot.devtools.sandbox import HOOK_TOKEN, Sandbox
from tests.slack.support import copy_runbooks

ROLLBACK = "rollback:1"


class Receiver:
    """A deploy system's webhook: records every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                calls.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/rollback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rollback_runbooks(tmp_path: Path, receiver: Receiver, extra: str = "") -> Path:
    """ranking-model with previous-model run by a webhook to ``receiver``, validated fast."""
    return copy_runbooks(
        tmp_path,
        {
            "ranking-model.yaml": (
                """    executor:
      type: command
      argv: ["deployctl", "rollback", "ranking-model", "--to", "previous"]
      timeout: 5m
    validation: {metric: error_rate, window: 20m, endorse_role: ml_lead}""",
                f"""    executor:
      type: webhook
      url: {receiver.url}
      payload: {{action: rollback, model: $runbook, key: $idempotency_key}}
      timeout: 5s
    validation: {{metric: error_rate, window: 1s, endorse_role: ml_lead}}{extra}""",
            )
        },
    )


def post(sandbox: Sandbox, hook: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{sandbox.server.url}/hooks/{hook}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read())


def alert(value: float | None, metric: str = "error_rate") -> dict[str, Any]:
    annotations = {"summary": "error rate high"} | ({"value": str(value)} if value else {})
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RankingErrors"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "releasebot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am.local",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "RankingErrors",
                    "runbook": "ranking-model",
                    "metric": metric,
                },
                "annotations": annotations,
                "startsAt": "2026-11-22T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom.local/graph",
                "fingerprint": "6e1d9c2a4b3f",
            }
        ],
    }


def samples(
    metric: str, values: list[float], every: timedelta, end: datetime | None = None
) -> dict[str, Any]:
    end = end or datetime.now(UTC)
    return {
        "runbook": "ranking-model",
        "samples": [
            {
                "metric": metric,
                "value": value,
                "at": (end - every * (len(values) - 1 - i)).isoformat(),
            }
            for i, value in enumerate(values)
        ],
    }


def wait_until(condition: Callable[[], bool], sandbox: Sandbox, timeout: float = 30) -> None:
    """Wait (returning as soon as it holds: a wait, not a timing) for ``condition``, then for
    the Slack work it queued; on a timeout, say which timers were still open."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            timers = sandbox.runtime.scheduler.open_timers()
            raise TimeoutError(f"condition not met; timers still open: {timers}")
        time.sleep(0.05)
    sandbox.settle()

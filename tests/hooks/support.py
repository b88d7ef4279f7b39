"""Helpers for the hook tests: the bot built by ``bootstrap.build``, monitoring's requests to it,
and what it stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.bootstrap import Runtime, build
from bot.clock import Clock
from bot.config import load_settings
from bot.core.criteria import Sample
from bot.store import read_connection
from bot.store.samples import recent_samples

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(__file__).parent / "data"  # captured from Alertmanager 0.25
TOKEN = "hook-token-for-tests-5f1c0a9e"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class MovableClock:
    """The bot's clock in these tests: fixed until a test moves it."""

    now: datetime = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def build_runtime(
    database_url: str,
    *,
    hook_token: str | None,
    clock: Clock,
    slack_api_url: str,
    slack_bot_token: str = "xoxb-hooks-test-0000",
    token_verification: bool = False,
    runbooks_dir: Path = ROOT / "runbooks",
) -> Runtime:
    """The real composition root, with the settings a deployment would have.

    Without a Slack to talk to (``token_verification=False``), Bolt's ``auth.test`` at
    start-up is skipped: receiving samples needs no Slack.
    """
    settings = load_settings(
        database_url=database_url,
        runbooks_dir=runbooks_dir,
        templates_dir=ROOT / "templates",
        slack_api_url=slack_api_url,
        slack_bot_token=slack_bot_token,
        slack_signing_secret="hooks-test-signing-secret-0123",
        hook_token=hook_token,
    )
    return build(settings, clock=clock, token_verification=token_verification)


@dataclass
class HookBot:
    """The bot's WSGI app as monitoring reaches it, and what it stored."""

    runtime: Runtime
    clock: MovableClock
    client: FlaskClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.runtime.web_app.test_client()

    def post(
        self,
        hook: str,
        body: Any,
        *,
        token: str | None = TOKEN,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        sent = dict(headers or {})
        if token is not None:
            sent.setdefault("Authorization", f"Bearer {token}")
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return self.client.post(
            f"/hooks/{hook}", data=data, headers=sent, content_type=content_type
        )

    def stored(self, runbook_id: str = "ranking-model") -> list[Sample]:
        with read_connection(self.runtime.engine) as connection:
            return recent_samples(connection, runbook_id=runbook_id, since=EPOCH)

    def stored_rows(self) -> int:
        with read_connection(self.runtime.engine) as connection:
            return int(
                connection.exec_driver_sql("SELECT count(*) FROM metric_samples").scalar_one()
            )

    def counted(self, hook: str, status: int) -> float:
        value = self.runtime.metrics.registry.get_sample_value(
            "releasebot_hook_requests_total", {"hook": hook, "status": str(status)}
        )
        return value or 0.0


def shared_payload(name: str) -> dict[str, Any]:
    """One of the captured Alertmanager 0.25 payloads, as a fresh dict."""
    document: dict[str, Any] = json.loads(
        (PAYLOADS / f"alertmanager_webhook_{name}.json").read_text()
    )
    return document


def ranking_alert(
    payload: dict[str, Any], *, metric: str = "error_rate", value: str | None = "0.041"
) -> dict[str, Any]:
    """``payload`` with its first alert labelled for the ranking-model runbook."""
    alert = payload["alerts"][0]
    alert["labels"].update(runbook="ranking-model", metric=metric)
    if value is not None:
        alert["annotations"]["value"] = value
    return payload

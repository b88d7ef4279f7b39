"""The WSGI application of ``releasebot serve``.

``POST /slack/events`` hands the request to Bolt unchanged (Bolt verifies the signature);
``GET /healthz`` answers whether the process is alive and the database reachable;
``GET /metrics`` exposes the bot's own Prometheus metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy import Engine, text

from bot.web.metrics import BotMetrics


def build_web_app(
    *,
    bolt_app: App,
    engine: Engine,
    metrics: BotMetrics,
    pending_jobs: Callable[[], int] | None = None,
) -> Flask:
    web = Flask("releasebot")
    slack = SlackRequestHandler(bolt_app)

    @web.post("/slack/events")
    def slack_events() -> Response:
        started = time.perf_counter()
        response: Response = slack.handle(request)
        kind = _slack_kind(request.content_type, request.get_data(cache=True))
        metrics.slack_requests.labels(kind=kind, status=str(response.status_code)).inc()
        metrics.slack_latency.labels(kind=kind).observe(time.perf_counter() - started)
        return response

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure means unhealthy
            return jsonify(status="unhealthy", database=f"unreachable: {type(error).__name__}"), 503
        return jsonify(status="ok", database="ok"), 200

    @web.get("/metrics")
    def prometheus() -> Response:
        if pending_jobs is not None:
            metrics.outbox_pending.set(pending_jobs())
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    return web


def _slack_kind(content_type: str | None, body: bytes) -> str:
    if content_type and "json" in content_type:
        return "event"
    if body.startswith(b"payload="):
        return "interaction"
    return "command"

"""The WSGI application of ``releasebot serve``.

``POST /slack/events`` goes to Bolt unchanged (Bolt verifies the signature) through
``SlackEvents``, a WSGI middleware in front of Flask; ``GET /healthz`` answers whether the
process is alive and the database reachable; ``GET /metrics`` exposes the bot's own
Prometheus metrics; the alert hooks (``bot.hooks.routes``) add their routes to the Flask app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from sqlalchemy import Engine, text

from bot.logs import RequestIds
from bot.web.metrics import BotMetrics
from bot.web.slack_request import PAYLOAD_FIELD, SlackRequest

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from bot.web.site import WebPages

SLACK_PATH = "/slack/events"


class SlackEvents:
    """WSGI middleware: Slack's requests go straight to Bolt, everything else to ``app``.

    Slack's requests skip Flask: its request context, routing and response objects cost as
    much CPU per click as the rest of the bare Bolt app (measured with the click benchmark:
    0.79 ms of CPU per click through Bolt's Flask adapter, 0.61 ms through its WSGI request
    and response adapters, used here). The body is parsed by ``SlackRequest``, which decodes
    a click's form-encoded payload in C.
    """

    def __init__(self, bolt_app: App, metrics: BotMetrics, app: WSGIApplication) -> None:
        self.bolt_app = bolt_app
        self.metrics = metrics
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != SLACK_PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            start_response(
                "405 METHOD NOT ALLOWED",
                [("Allow", "POST"), ("Content-Type", "text/plain; charset=utf-8")],
            )
            return [b"Slack's requests are POSTed to this URL.\n"]
        started = time.perf_counter()
        request = WsgiHttpRequest(environ)
        body = request.get_body()
        bolt_response = self.bolt_app.dispatch(
            SlackRequest(body=body, query=request.query_string, headers=request.get_headers())
        )
        response = WsgiHttpResponse(
            status=bolt_response.status, headers=bolt_response.headers, body=bolt_response.body
        )
        start_response(response.status, response.get_headers())
        kind = _slack_kind(environ.get("CONTENT_TYPE"), body)
        self.metrics.slack_answered(kind, bolt_response.status, time.perf_counter() - started)
        return response.get_body()


def build_web_app(
    *,
    bolt_app: App,
    engine: Engine,
    metrics: BotMetrics,
    pending_jobs: Callable[[], int] | None = None,
    pages: WebPages | None = None,
) -> Flask:
    web = Flask("releasebot")
    slack_or_flask = SlackEvents(bolt_app, metrics, web.wsgi_app)
    web.wsgi_app = RequestIds(slack_or_flask)  # type: ignore[method-assign]
    if pages is not None:  # the trail, runbook and figures pages (bot.web.site)
        pages.register(web)

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


def _slack_kind(content_type: str | None, body: str) -> str:
    if content_type and "json" in content_type:
        return "event"
    if body.startswith(PAYLOAD_FIELD):
        return "interaction"
    return "command"

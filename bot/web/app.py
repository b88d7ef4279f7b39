"""The WSGI application of ``releasebot serve``.

``POST /slack/events`` goes to Bolt through ``SlackEvents``, a WSGI middleware in front of
Flask, which checks the signature on the raw body before anything parses it, then parses and
checks the request's shape (``bot.slack.payload_checks``): a refusal is a 4xx with a reason.
``GET /healthz`` answers whether the database answers and the threads that write to it are
moving (``bot.web.health``);
``GET /metrics`` exposes the bot's own Prometheus metrics; the alert hooks
(``bot.hooks.routes``) add their routes to the Flask app.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from sqlalchemy import Engine

from bot.logs import RequestIds
from bot.slack.payload_checks import Refusal, check_request
from bot.web.health import Component, DatabaseProbe, health_report
from bot.web.metrics import BotMetrics
from bot.web.slack_request import PAYLOAD_FIELD, MalformedBody, SlackRequest, parse_slack_body
from bot.web.slack_signature import Rejected, SignatureCheck

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from bot.web.site import WebPages

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"
_STATUS_TEXT = {400: "400 BAD REQUEST", 401: "401 UNAUTHORIZED", 413: "413 PAYLOAD TOO LARGE"}


class SlackEvents:
    """WSGI middleware: Slack's requests go straight to Bolt, everything else to ``app``.

    Slack's requests skip Flask: its request context, routing and response objects cost as
    much CPU per click as the rest of the bare Bolt app (measured with the click benchmark:
    0.79 ms of CPU per click through Bolt's Flask adapter, 0.61 ms through its WSGI request
    and response adapters, used here). The body is parsed by ``SlackRequest``, which decodes
    a click's form-encoded payload in C.

    In order: the signature and timestamp over the raw bytes (``signatures``; Bolt's own
    check is then off, see ``bot.slack.app``), the body parsed (a JSON object, or 400), its
    shape checked (``check_request``; a refusal goes to ``on_refused``, which tells the person
    when there is one), and only then Bolt. No input reaches an exception: a 500 means the
    bot itself failed (a click that could not be recorded).
    """

    def __init__(
        self,
        bolt_app: App,
        metrics: BotMetrics,
        app: WSGIApplication,
        *,
        signatures: SignatureCheck,
        on_refused: Callable[[Refusal], None] | None = None,
        max_body_bytes: int = 1_048_576,
    ) -> None:
        self.bolt_app = bolt_app
        self.metrics = metrics
        self.app = app
        self.signatures = signatures
        self.on_refused = on_refused or (lambda refusal: None)
        self.max_body_bytes = max_body_bytes

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
        raw = self._read(environ)
        if isinstance(raw, Rejected):
            return self._refuse(environ, start_response, raw, b"", started)
        headers = request.get_headers()
        rejected = self.signatures.check(raw, headers)  # type: ignore[arg-type]
        if rejected is not None:
            return self._refuse(environ, start_response, rejected, raw, started)
        try:
            body = raw.decode("utf-8")
            parsed = parse_slack_body(body, request_content_type(environ))
        except UnicodeDecodeError:
            rejected = Rejected(400, "the body is not UTF-8 text")
        except MalformedBody as malformed:
            rejected = Rejected(400, str(malformed))
        else:
            refusal = check_request(parsed)
            if refusal is not None:
                self.on_refused(refusal)
                rejected = Rejected(refusal.status, refusal.reason)
        if rejected is not None:
            return self._refuse(environ, start_response, rejected, raw, started)
        bolt_response = self.bolt_app.dispatch(
            SlackRequest(
                body=body, query=request.query_string, headers=headers, parsed=parsed
            )
        )
        response = WsgiHttpResponse(
            status=bolt_response.status, headers=bolt_response.headers, body=bolt_response.body
        )
        start_response(response.status, response.get_headers())
        kind = _slack_kind(environ.get("CONTENT_TYPE"), body)
        self.metrics.slack_answered(kind, bolt_response.status, time.perf_counter() - started)
        return response.get_body()

    def _read(self, environ: WSGIEnvironment) -> bytes | Rejected:
        length_text = environ.get("CONTENT_LENGTH") or "0"
        if not length_text.isdigit():
            return Rejected(400, "Content-Length must be a number")
        length = int(length_text)
        if length > self.max_body_bytes:
            return Rejected(413, f"the body is over {self.max_body_bytes} bytes")
        data: bytes = environ["wsgi.input"].read(length) if length else b""
        return data

    def _refuse(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        rejected: Rejected,
        raw: bytes,
        started: float,
    ) -> Iterable[bytes]:
        log.info("Slack request refused (%d): %s", rejected.status, rejected.reason)
        answer = json.dumps({"error": rejected.reason}).encode()
        start_response(
            _STATUS_TEXT.get(rejected.status, f"{rejected.status} REFUSED"),
            [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))],
        )
        kind = _slack_kind(environ.get("CONTENT_TYPE"), raw.decode("utf-8", "replace")[:16])
        self.metrics.slack_answered(kind, rejected.status, time.perf_counter() - started)
        return [answer]


def build_web_app(
    *,
    bolt_app: App,
    engine: Engine,
    metrics: BotMetrics,
    signing_secret: str,
    pending_jobs: Callable[[], int] | None = None,
    pages: WebPages | None = None,
    on_refused: Callable[[Refusal], None] | None = None,
    components: dict[str, Component] | None = None,
) -> Flask:
    """``components``: what ``/healthz`` reports besides the database (the writer, the
    workers), each ``() -> (healthy, detail)``."""
    web = Flask("releasebot")
    slack_or_flask = SlackEvents(
        bolt_app,
        metrics,
        web.wsgi_app,
        signatures=SignatureCheck(signing_secret),
        on_refused=on_refused,
    )
    web.wsgi_app = RequestIds(slack_or_flask)  # type: ignore[method-assign]
    if pages is not None:  # the trail, runbook and figures pages (bot.web.site)
        pages.register(web)

    probe = DatabaseProbe(engine)
    checked: dict[str, Component] = {"database": probe.check, **(components or {})}

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        body, status = health_report(checked)
        return jsonify(body), status

    @web.get("/metrics")
    def prometheus() -> Response:
        if pending_jobs is not None:
            metrics.outbox_pending.set(pending_jobs())
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    return web


def request_content_type(environ: WSGIEnvironment) -> str | None:
    """The media type alone, as Bolt compares it (``application/json``, without parameters)."""
    content_type = environ.get("CONTENT_TYPE")
    return content_type.split(";")[0].strip().lower() if content_type else None


def _slack_kind(content_type: str | None, body: str) -> str:
    if content_type and "json" in content_type:
        return "event"
    if body.startswith(PAYLOAD_FIELD):
        return "interaction"
    return "command"

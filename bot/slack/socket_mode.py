"""Socket Mode for ``releasebot serve --socket``: Bolt's handler, measured like HTTP mode.

Over HTTP, ``bot.web.app.SlackEvents`` counts Slack's requests and times their answers for
``/metrics``. In Socket Mode the requests arrive on a WebSocket and never pass through it, so
this handler records the same two metrics (kind ``command``, ``interaction`` or ``event``;
status 200 when the envelope was acknowledged, Bolt's status otherwise, in which case no
acknowledgement is sent and Slack treats the request as failed, as it treats an HTTP 500).
"""

from __future__ import annotations

import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.web.metrics import BotMetrics

# Socket Mode's envelope types, named as the HTTP side names the same requests.
REQUEST_KINDS = {"slash_commands": "command", "interactive": "interaction", "events_api": "event"}


class MeasuredSocketModeHandler(SocketModeHandler):
    """``SocketModeHandler`` whose requests are counted and timed in ``metrics``."""

    def __init__(self, app: App, app_token: str, metrics: BotMetrics) -> None:
        super().__init__(app, app_token)
        self.metrics = metrics

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started, wall_started = time.perf_counter(), time.time()
        response = run_bolt_app(self.app, req)
        # counted before the acknowledgement goes out, as over HTTP before the answer's body
        kind = REQUEST_KINDS.get(req.type, req.type)
        self.metrics.slack_requests.labels(kind=kind, status=str(response.status)).inc()
        self.metrics.slack_latency.labels(kind=kind).observe(time.perf_counter() - started)
        send_response(client, req, response, wall_started)

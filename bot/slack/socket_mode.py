"""Socket Mode for ``releasebot serve --socket``: Bolt's handler, measured like HTTP mode.

Over HTTP, ``bot.web.app.SlackEvents`` counts Slack's requests and times their answers for
``/metrics``. In Socket Mode the requests arrive on a WebSocket and never pass through it, so
this handler records the same two metrics (kind ``command``, ``interaction`` or ``event``;
status 200 when the envelope was acknowledged, Bolt's status otherwise, in which case no
acknowledgement is sent and Slack treats the request as failed, as it treats an HTTP 500).
An envelope whose payload is malformed (``bot.slack.payload_checks``) never reaches Bolt: it
is counted with status 400, the person behind it is told (``on_refused``), and it is
acknowledged, since sending it again cannot make it well formed.

slack_sdk's client gets ``TCP_NODELAY`` on its socket, at every (re)connection. An
acknowledgement is one small write; with Nagle's algorithm on, the kernel holds it back while
the previous one is not yet ACKed, and the other side may delay its ACKs by 40 ms. Measured
with ``benchmarks/socket_mode_click_benchmark.py``, 20 concurrent clicks on a bare Bolt app
over Socket Mode: p99 45 ms (p50 4 ms) without it, 13-14 ms with it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.logs import log_context
from bot.slack.payload_checks import Refusal, check_request
from bot.web.metrics import BotMetrics

log = logging.getLogger(__name__)

# Socket Mode's envelope types, named as the HTTP side names the same requests.
REQUEST_KINDS = {"slash_commands": "command", "interactive": "interaction", "events_api": "event"}


class NoDelaySocketModeClient(SocketModeClient):
    """slack_sdk's built-in client, with ``TCP_NODELAY`` on each connection it opens; an
    envelope whose payload is not an object goes to ``on_malformed`` (slack_sdk would raise
    on it in its worker and log a traceback)."""

    on_malformed: Callable[[str, str], None] | None = None

    def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        envelope_id, payload = message.get("envelope_id"), message.get("payload", {})
        if isinstance(envelope_id, str) and not isinstance(payload, dict | str):
            if self.on_malformed is not None:
                self.on_malformed(envelope_id, str(message.get("type")))
            return
        super().run_message_listeners(message, raw_message)

    def connect(self) -> None:
        super().connect()
        sock = getattr(self.current_session, "sock", None)
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MeasuredSocketModeHandler(BaseSocketModeHandler):
    """Bolt's Socket Mode handler, its requests counted and timed in ``metrics``;
    ``workers`` requests are handled at once."""

    def __init__(
        self,
        app: App,
        app_token: str,
        metrics: BotMetrics,
        *,
        workers: int,
        on_refused: Callable[[Refusal], None] | None = None,
    ) -> None:
        self.app, self.app_token, self.metrics = app, app_token, metrics
        self.on_refused = on_refused or (lambda refusal: None)
        self.client = NoDelaySocketModeClient(
            app_token=app_token,
            logger=app.logger,
            web_client=app.client,
            proxy=app.client.proxy,
            concurrency=workers,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
        self.client.on_malformed = self._malformed

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started, wall_started = time.perf_counter(), time.time()
        kind = REQUEST_KINDS.get(req.type, req.type)
        refusal = check_request(req.payload)
        if refusal is not None:
            log.info("Socket Mode %s refused: %s", kind, refusal.reason)
            self.on_refused(refusal)
            self.metrics.slack_answered(kind, refusal.status, time.perf_counter() - started)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        with log_context(request_id=req.envelope_id):
            response = run_bolt_app(self.app, req)
        # counted before the acknowledgement goes out, as over HTTP before the answer's body
        self.metrics.slack_answered(kind, response.status, time.perf_counter() - started)
        if response.status == 400:  # refused by a listener (a misplaced click): acknowledged,
            # as sending it again cannot make it acceptable (Bolt acknowledges only a 200)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        send_response(client, req, response, wall_started)

    def _malformed(self, envelope_id: str, envelope_type: str) -> None:
        kind = REQUEST_KINDS.get(envelope_type, envelope_type)
        log.info("Socket Mode %s refused: its payload is not a JSON object", kind)
        self.metrics.slack_answered(kind, 400, 0.0)
        self.client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))

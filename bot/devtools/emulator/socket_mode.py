"""Slack's side of Socket Mode: a WebSocket server the bot connects to, as it connects to Slack.

The bot calls ``apps.connections.open`` with its app-level token and gets a ``ws://`` URL with
a one-use ticket (Slack's is ``wss://``; slack_sdk's client speaks plain WebSocket to any port
but 443). On connecting it is greeted with ``hello``; requests then reach it as envelopes
(``events_api``, ``slash_commands``, ``interactive``) that it must acknowledge by sending back
their ``envelope_id``, with the answer's body as ``payload`` when there is one. A
``disconnect`` message (``refresh_requested``) asks it to open a new connection, as Slack does
every few hours.

Requests go to the newest open connection. Every envelope and its acknowledgement is kept in
``EmulatorState.envelopes``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from bot.devtools.emulator.state import EmulatorState, Json, SocketEnvelope

# Interactions whose acknowledgement may carry an answer Slack acts on (Slack's flag).
ANSWERED_INTERACTIONS = frozenset({"view_submission", "view_closed", "block_suggestion"})
log = logging.getLogger(__name__)


class NotConnectedError(ConnectionError):
    """No Socket Mode connection is open: the bot is not (or no longer) connected."""


@dataclass
class SocketLink:
    """One WebSocket connection from the bot."""

    id: str
    connection: ServerConnection
    opened_at: float
    closed: bool = False


class SocketModeServer:
    """The WebSocket endpoint behind ``apps.connections.open``, in a background thread."""

    def __init__(self, state: EmulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state, self.host, self.port = state, host, port
        self.links: list[SocketLink] = []
        # envelopes sent and not yet acknowledged, each with the event its sender waits on
        self._pending: dict[str, tuple[SocketEnvelope, threading.Event]] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            return
        self._server = serve(
            self._serve_link, self.host, self.port,
            process_request=self._check_ticket, compression=None, logger=log,
        )  # fmt: skip
        port = self._server.socket.getsockname()[1]
        with self.state.lock:
            self.state.socket_url = f"ws://{self.host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-emulator-socket-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        with self.state.lock:
            self.state.socket_url = None
            links = [link for link in self.links if not link.closed]
        for link in links:
            link.connection.close()
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    # ---- connections --------------------------------------------------------------------
    def open_links(self) -> list[SocketLink]:
        with self.state.lock:
            return [link for link in self.links if not link.closed]

    def refresh(self, reason: str = "refresh_requested", close_after: float | None = 10.0) -> int:
        """Ask every open connection to reconnect (Slack's ``disconnect`` message); returns
        how many were asked. The bot opens a new connection, then closes the old one. As
        Slack does, a connection still open ``close_after`` seconds later is closed from
        this side (None: never), so a client that missed the message reconnects anyway."""
        links = self.open_links()
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": _DEBUG})
        for link in links:
            link.connection.send(message)
        if links and close_after is not None:
            closer = threading.Timer(close_after, self._close_links, args=(links,))
            closer.daemon = True
            closer.start()
        return len(links)

    def _close_links(self, links: list[SocketLink]) -> None:
        for link in links:
            if not link.closed:
                link.connection.close()

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[-1]
        with self.state.lock:
            if ticket in self.state.socket_tickets:
                self.state.socket_tickets.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    def _serve_link(self, connection: ServerConnection) -> None:
        state = self.state
        link = SocketLink(state.next_id("L"), connection, state.now())
        hello = {"type": "hello", "num_connections": len(self.open_links()) + 1}
        hello.update(debug_info=_DEBUG, connection_info={"app_id": state.bot.app_id})
        connection.send(json.dumps(hello))
        with state.lock:
            self.links.append(link)
            state.changed.notify_all()
        try:
            for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with state.lock:
                link.closed = True
                state.changed.notify_all()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("not JSON from the bot over Socket Mode: %r", raw[:200])
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self.state.lock:
            pending = self._pending.pop(str(envelope_id), None)
            if pending is None:
                log.warning("an acknowledgement of no pending envelope: %r", raw[:200])
                return
            record, acknowledged = pending
            payload = message.get("payload")
            record.ack = payload if isinstance(payload, dict) else {}
            record.acked_at = self.state.now()
            self.state.changed.notify_all()
        acknowledged.set()

    # ---- requests to the bot ------------------------------------------------------------
    def deliver(
        self, kind: str, payload: Json, *, retry_attempt: int = 0, retry_reason: str = "",
        timeout: float = 3.0,
    ) -> SocketEnvelope:  # fmt: skip
        """Send one envelope over the newest open connection and wait up to ``timeout`` for
        its acknowledgement (``record.ack`` stays None without one)."""
        answered = kind == "slash_commands" or (
            kind == "interactive" and payload.get("type") in ANSWERED_INTERACTIONS
        )
        envelope: Json = {"envelope_id": str(uuid.uuid4()), "type": kind, "payload": payload}
        envelope.update(accepts_response_payload=answered)
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        with self.state.lock:
            links = self.open_links()
            if not links:
                raise NotConnectedError("the bot has no open Socket Mode connection")
            record, acknowledged = SocketEnvelope(envelope, self.state.now()), threading.Event()
            self.state.envelopes.append(record)
            self._pending[record.envelope_id] = (record, acknowledged)
        try:
            links[-1].connection.send(json.dumps(envelope))
        except ConnectionClosed as error:
            with self.state.lock:
                self._pending.pop(record.envelope_id, None)
            raise NotConnectedError("the bot's Socket Mode connection closed") from error
        if not acknowledged.wait(timeout):
            with self.state.lock:
                self._pending.pop(record.envelope_id, None)
        return record


_DEBUG: Json = {"host": "releasebot-emulator", "build_number": 1}

"""Test helpers: a real local HTTP receiver that records requests and answers from a script.

Tests script its replies (``server.script(Reply(500), Reply(200))``); once the script runs out
it answers 200. A reply with a ``delay`` holds the connection open that long (or until the
test ends), which is how "slow beyond the timeout" is played.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.executors import ExecutionRequest

FIXED_NOW = datetime(2025, 3, 5, 14, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/rollback"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def next_reply(self, received: Received) -> Reply:
        with self.lock:
            self.requests.append(received)
            return self.replies.popleft() if self.replies else Reply()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timed out) is expected here


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = Received(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length),
        )
        reply = self.server.next_reply(received)
        if reply.delay:
            self.server.released.wait(reply.delay)
        body = reply.body.encode()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_request(**changes: Any) -> ExecutionRequest:
    values: dict[str, Any] = {
        "runbook_id": "ranking-model",
        "runbook_version": 3,
        "path_id": "disable-reranker",
        "rollback_id": "rb-42",
        "severity": "medium",
        "idempotency_key": "rollback:rb-42:disable-reranker",
        "requested_by": "U0ALICE",
        "approved_by": ["U0DMITRI"],
        "drill": False,
    }
    values.update(changes)
    return ExecutionRequest(**values)


class Sleeps(list[float]):
    """An injectable ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

"""Fixtures: a running emulator (on the wall clock, or on a clock the test moves), a WebClient
on it, and a fake bot that records signed requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.devtools.emulator import ManualClock, SlackEmulator, default_seed

SIGNING_SECRET = "emulator-test-signing-secret"


@pytest.fixture
def signing_secret() -> str:
    """The secret the fake bot and the Bolt app verify with (and the driver signs with)."""
    return SIGNING_SECRET


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(default_seed()) as emulator:
        yield emulator


@pytest.fixture
def clock() -> ManualClock:
    """Slack's time in ``timed_slack``: it moves only when the test says so."""
    return ManualClock()


@pytest.fixture
def timed_slack(clock: ManualClock) -> Iterator[SlackEmulator]:
    """An emulator on ``clock``: known timestamps, triggers that expire when the test moves
    the clock past their 3 seconds."""
    with SlackEmulator(default_seed(), clock=clock) as emulator:
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


@dataclass
class Received:
    """One request the fake bot got, and whether Slack's verifier accepted its signature."""

    path: str
    headers: dict[str, str]
    body: str
    signature_valid: bool


@dataclass
class FakeBot:
    """A request URL that checks signatures with slack_sdk and answers what a test sets."""

    url: str
    received: list[Received] = field(default_factory=list)
    answer_status: int = 200
    answer_body: str = ""


@pytest.fixture
def fake_bot() -> Iterator[FakeBot]:
    verifier = SignatureVerifier(SIGNING_SECRET)
    bot = FakeBot(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
            headers = dict(self.headers.items())
            valid = verifier.is_valid_request(body, headers)
            bot.received.append(Received(self.path, headers, body, valid))
            data = bot.answer_body.encode("utf-8")
            self.send_response(bot.answer_status if valid else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    bot.url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    yield bot
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)

"""The emulator's Socket Mode: apps.connections.open, the WebSocket, envelopes and their acks.

Driven by Bolt's own Socket Mode adapter (slack_sdk's built-in client) where a real app is
needed, and by a bare WebSocket client where the test plays a misbehaving one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.devtools.emulator import SlackDriver, SlackEmulator
from bot.devtools.emulator.driver import NOT_ACKNOWLEDGED
from bot.devtools.emulator.socket_mode import NotConnectedError
from tests.emulator.test_bolt_round_trip import build_app


def open_url(slack: SlackEmulator) -> str:
    answer = WebClient(token=slack.app_token, base_url=slack.api_url).apps_connections_open(
        app_token=slack.app_token
    )
    return str(answer["url"])


@pytest.fixture
def handler(slack: SlackEmulator, signing_secret: str) -> Iterator[SocketModeHandler]:
    """A Bolt app connected over Socket Mode, as `releasebot serve --socket` connects."""
    socket_handler = SocketModeHandler(build_app(slack, signing_secret), slack.app_token)
    socket_handler.connect()  # type: ignore[no-untyped-call]
    slack.wait_for_socket_connection()
    yield socket_handler
    socket_handler.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def driver(slack: SlackEmulator, handler: SocketModeHandler) -> SlackDriver:
    return slack.socket_driver()


def test_apps_connections_open_takes_only_the_app_level_token(slack: SlackEmulator) -> None:
    assert open_url(slack).startswith("ws://127.0.0.1:")
    with pytest.raises(SlackApiError) as bot_token:
        slack.client().apps_connections_open(app_token=slack.bot_token)
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as app_token:
        slack.client(token=slack.app_token).chat_postMessage(channel="C0RANKREL", text="hi")
    assert app_token.value.response["error"] == "not_allowed_token_type"
    assert slack.messages("C0RANKREL") == []


def test_a_ticket_opens_one_connection_greeted_with_hello(slack: SlackEmulator) -> None:
    url = open_url(slack)
    with connect(url) as websocket:
        hello = json.loads(websocket.recv(timeout=5))
        assert hello["type"] == "hello"
        assert hello["connection_info"] == {"app_id": slack.state.bot.app_id}
        slack.wait_for_socket_connection()
        with pytest.raises(InvalidStatus) as reused:
            connect(url)
        assert reused.value.response.status_code == 401
    slack.wait_for(lambda: slack.socket_connections() == 0)


def test_bolt_gets_a_command_a_click_and_an_event_over_socket_mode(
    slack: SlackEmulator, driver: SlackDriver
) -> None:
    command = driver.slash_command("U0ALICE", "C0RANKREL", "/release", "v2.4.0")
    assert command.status == 200
    assert command.envelope is not None and command.envelope["type"] == "slash_commands"
    assert command.envelope["payload"]["text"] == "v2.4.0"
    slack.wait_for(lambda: slack.ephemerals(user="U0ALICE"))
    slack.wait_for_calls("chat.postMessage", ok=True)

    assert driver.click("U0CHIARA", "C0RANKREL", "Pass", match="backtest").status == 200
    slack.wait_for_calls("chat.postMessage", count=2, ok=True)
    message = driver.message("U0BRUNO", "C0RANKREL", "deploy now")
    assert message.status == 200
    slack.wait_for_calls("chat.postMessage", count=3, ok=True)

    transcript = slack.transcript("C0RANKREL", include_ephemeral=True)
    assert "releasebot [APP]: Backtest passed (edited)" in transcript
    assert "@chiara passed it" in transcript
    assert "Started v2.4.0 (only visible to you: @alice)" in transcript
    assert "Noted: deploy now" in transcript
    kinds = [(e.envelope["type"], e.ack is not None) for e in slack.envelopes()]
    assert kinds == [("slash_commands", True), ("interactive", True), ("events_api", True)]


def test_a_redelivered_event_carries_its_retry_attempt(
    slack: SlackEmulator, driver: SlackDriver
) -> None:
    first = driver.message("U0BRUNO", "C0RANKREL", "hello")
    again = driver.redeliver(first)
    assert (first.status, again.status) == (200, 200)
    assert first.envelope is not None and again.envelope is not None
    assert (first.envelope["retry_attempt"], again.envelope["retry_attempt"]) == (0, 1)
    assert again.envelope["retry_reason"] == "http_timeout"
    assert again.envelope["payload"]["event_id"] == first.envelope["payload"]["event_id"]
    assert again.envelope["envelope_id"] != first.envelope["envelope_id"]


def test_after_a_refresh_the_app_reconnects_and_is_still_reached(
    slack: SlackEmulator, driver: SlackDriver
) -> None:
    assert slack.refresh_socket_connections() == 1
    slack.wait_for(lambda: len(slack.calls("apps.connections.open")) == 2, timeout=10)
    slack.wait_for(lambda: slack.socket_connections() == 1, timeout=10)
    assert driver.slash_command("U0ALICE", "C0RANKREL", "/release", "v2.4.1").status == 200
    slack.wait_for_calls("chat.postMessage", ok=True)


def test_an_envelope_nobody_acknowledges_is_reported(slack: SlackEmulator) -> None:
    with connect(open_url(slack)) as websocket:
        websocket.recv(timeout=5)  # hello; then never acknowledge anything
        slack.wait_for_socket_connection()
        delivery = slack.socket_driver(ack_timeout=0.2).slash_command(
            "U0ALICE", "C0RANKREL", "/release", "help"
        )
        sent = json.loads(websocket.recv(timeout=5))
    assert delivery.status == NOT_ACKNOWLEDGED
    assert delivery.envelope is not None
    assert sent["envelope_id"] == delivery.envelope["envelope_id"]
    assert sent["accepts_response_payload"] is True
    assert slack.envelopes()[0].ack is None


def test_without_a_connection_or_with_signing_options_the_driver_refuses(
    slack: SlackEmulator,
) -> None:
    driver = slack.socket_driver()
    with pytest.raises(NotConnectedError):
        driver.slash_command("U0ALICE", "C0RANKREL", "/release", "help")
    with pytest.raises(ValueError, match="not signed"):
        driver.slash_command("U0ALICE", "C0RANKREL", "/release", "help", secret="x")
    with pytest.raises(ValueError, match="url_verification"):
        driver.url_verification()

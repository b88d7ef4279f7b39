"""A real Bolt app, served over HTTP, driven by the driver and talking to the emulator.

This proves the emulator is Slack enough for Bolt: signatures, payload shapes, the Web API,
response_url and retries, without mocking anything inside Bolt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.devtools.emulator import SlackDriver, SlackEmulator


def build_app(slack: SlackEmulator, signing_secret: str) -> App:
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    app = App(client=client, signing_secret=signing_secret)

    @app.command("/release")
    def release(ack: Ack, command: dict, say: Say, respond: Respond) -> None:
        ack()
        button = {"type": "button", "action_id": "gate_pass", "value": "backtest"}
        say(
            text=f"Readiness of {command['text']}",
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Backtest*"}},
                {
                    "type": "actions",
                    "block_id": "gate_actions:backtest",
                    "elements": [{**button, "text": {"type": "plain_text", "text": "Pass"}}],
                },
            ],
        )
        respond(f"Started {command['text']}")

    @app.action("gate_pass")
    def gate_pass(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        channel, message = body["channel"]["id"], body["message"]
        client.chat_update(channel=channel, ts=message["ts"], text="Backtest passed", blocks=[])
        client.chat_postMessage(
            channel=channel, thread_ts=message["ts"], text=f"<@{body['user']['id']}> passed it"
        )

    @app.event("message")
    def on_message(event: dict, say: Say) -> None:
        say(text=f"Noted: {event['text']}", thread_ts=event["ts"])

    return app


@pytest.fixture
def bolt_url(slack: SlackEmulator, signing_secret: str) -> Iterator[str]:
    app = build_app(slack, signing_secret)

    class Adapter(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
            headers = {key.lower(): value for key, value in self.headers.items()}
            response = app.dispatch(BoltRequest(body=body, headers=headers))
            data = response.body.encode("utf-8")
            self.send_response(response.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def driver(slack: SlackEmulator, bolt_url: str, signing_secret: str) -> SlackDriver:
    return slack.driver(bolt_url, signing_secret)


def test_bolt_answers_the_url_verification_challenge(driver: SlackDriver) -> None:
    delivery = driver.url_verification(challenge="c-123")
    assert delivery.status == 200 and delivery.json == {"challenge": "c-123"}


def test_bolt_refuses_forged_and_stale_requests(driver: SlackDriver) -> None:
    assert (
        driver.slash_command("U0ALICE", "C0RANKREL", "/release", "x", secret="evil").status == 401
    )
    assert driver.slash_command("U0ALICE", "C0RANKREL", "/release", "x", age=600).status == 401


def test_command_then_click_by_label_through_bolt(
    slack: SlackEmulator, driver: SlackDriver
) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    assert driver.slash_command("U0ALICE", "C0RANKREL", "/release", "v2.4.0").status == 200
    slack.wait_for(lambda: slack.ephemerals(user="U0ALICE"))
    slack.wait_for_calls("chat.postMessage", ok=True)
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]

    assert driver.click("U0CHIARA", "C0RANKREL", "Pass", match="backtest").status == 200
    slack.wait_for_calls("chat.postMessage", count=2, ok=True)
    transcript = slack.transcript("C0RANKREL", include_ephemeral=True)
    assert "releasebot [APP]: Backtest passed (edited)" in transcript
    assert "  ↳ " in transcript and "@chiara passed it" in transcript
    assert "Started v2.4.0 (only visible to you: @alice)" in transcript


def test_a_person_message_reaches_bolt_and_gets_a_threaded_answer(
    slack: SlackEmulator, driver: SlackDriver
) -> None:
    delivery = driver.message("U0BRUNO", "C0RANKREL", "deploy & <b>")
    (answer,) = slack.wait_for_calls("chat.postMessage", ok=True)
    assert answer.args["thread_ts"] == delivery.message.ts
    assert slack.thread("C0RANKREL", delivery.message.ts)[1].text == "Noted: deploy & <b>"

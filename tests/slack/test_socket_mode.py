"""Socket Mode end to end. `releasebot serve --socket` as it runs in production, a child
process connected to the emulator: a readiness review through envelopes on the WebSocket
alone, then Slack refreshing the connection, then a clean stop. And in process (the sandbox's
``socket_mode``), a click that cannot be recorded."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine

from bot.core.trail import TrailEvent
from bot.devtools.emulator import Button, SlackDriver, SlackEmulator, default_seed
from bot.devtools.emulator.driver import NOT_ACKNOWLEDGED
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET, Sandbox
from bot.store import make_engine, read_connection, trail_for_subject, verify_trail
from tests.slack.processes import free_port, serve, stop
from tests.slack.support import RANKING, RELEASE, RUNBOOKS, Bot, answer_text

TEMPLATES = RUNBOOKS.parent / "templates"


@dataclass
class SocketBot:
    slack: SlackEmulator
    driver: SlackDriver
    process: subprocess.Popen[bytes]
    engine: Engine
    log: Path
    url: str

    def trail(self) -> list[TrailEvent]:
        with read_connection(self.engine) as connection:
            return trail_for_subject(connection, subject=RELEASE)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.trail()]

    def shows(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the channel (ephemerals included) shows ``text``; return the channel."""

        def channel() -> str:
            shown = self.slack.transcript(RANKING, include_ephemeral=True)
            return shown if text in shown else ""

        return self.slack.wait_for(channel, timeout)

    def offers(self, label: str, timeout: float = 10.0) -> Button:
        """Wait until the channel offers a button labelled ``label``; return it."""

        def found() -> Button | None:
            try:
                return self.driver.find_button(RANKING, label)
            except LookupError:
                return None

        return self.slack.wait_for(found, timeout)


@pytest.fixture
def socket_bot(database_url: str, tmp_path: Path) -> Iterator[SocketBot]:
    slack = SlackEmulator(default_seed()).start()
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_RUNBOOKS": str(RUNBOOKS),
        "RELEASEBOT_TEMPLATES": str(TEMPLATES),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": slack.app_token,
    }
    log = tmp_path / "serve.log"
    port = free_port()
    process = serve(env, port, log, "--socket")
    engine = make_engine(database_url)
    try:
        slack.wait_for_socket_connection()
        url = f"http://127.0.0.1:{port}"
        yield SocketBot(slack, slack.socket_driver(), process, engine, log, url)
    finally:
        stop(process)
        engine.dispose()
        slack.stop()


def test_a_whole_review_over_socket_mode(socket_bot: SocketBot) -> None:
    slack, driver = socket_bot.slack, socket_bot.driver
    answer = driver.slash_command("U0ALICE", RANKING, "/release", "start ranking-model v2.4.0")
    assert answer.status == 200
    assert "Starting the readiness review of `ranking-model` v2.4.0" in answer_text(answer)
    socket_bot.shows("Readiness: Search ranking model v2.4.0")
    root = slack.messages(RANKING, replies=False)[0]

    # an outsider's click is refused, and the refusal is in the trail
    assert driver.click("U0BRUNO", RANKING, "Pass", match="eval-metrics").status == 200
    socket_bot.shows("Only members of ml_lead can mark")
    # a waive asks for its reason in a modal, submitted over the socket too
    assert driver.click("U0CHIARA", RANKING, "Waive", match="bias-audit").status == 200
    submitted = driver.submit_view("U0CHIARA", values={"reason": "audit is scheduled for Monday"})
    assert submitted.status == 200
    # a double click counts once
    button = driver.find_button(RANKING, "Pass", match="eval-metrics")
    for _ in range(2):
        driver.click("U0CHIARA", RANKING, "Pass", button.message.ts, match="eval-metrics")
    for gate, user in [("canary-latency", "U0DMITRI"), ("canary-errors", "U0ELENA")]:
        assert driver.click(user, RANKING, "Pass", match=gate).status == 200
    # the discussion is kept once, even when Slack redelivers the event
    reply = driver.message("U0CHIARA", RANKING, "eval report attached", thread_ts=root.ts)
    assert driver.redeliver(reply).envelope["retry_attempt"] == 1  # type: ignore[index]

    socket_bot.offers("Approve")
    for approver in ("U0BRUNO", "U0CHIARA"):
        assert driver.click(approver, RANKING, "Approve").status == 200
        slack.wait_for(
            lambda a=approver: any(
                e.kind == "approval.approve" and e.actor == a for e in socket_bot.trail()
            ),
            timeout=10,
        )
    channel = socket_bot.shows("Go/no-go for ranking-model v2.4.0: APPROVED")
    assert "audit is scheduled for Monday" in channel
    assert "✅ @bruno (release_champion) approved" in channel

    kinds = socket_bot.kinds()
    assert kinds[0] == "release.started"
    assert (kinds.count("gate.refused"), kinds.count("gate.waived")) == (2, 1)
    refused = [e.payload["why"] for e in socket_bot.trail() if e.kind == "gate.refused"]
    assert refused == ["not_owner", "already_marked"]  # the outsider, then the double click
    assert kinds.count("gate.passed") == 3
    assert kinds.count("conversation.reply") == 1
    assert kinds.count("approval.approve") == 2
    assert "go_no_go.approved" in kinds
    assert verify_trail(socket_bot.engine).intact
    assert all(envelope.ack is not None for envelope in slack.envelopes())
    # /metrics counts the requests that came over the WebSocket, as it counts HTTP ones
    with urllib.request.urlopen(f"{socket_bot.url}/metrics") as answer:
        metrics = answer.read().decode()
    sent = Counter(envelope.envelope["type"] for envelope in slack.envelopes())
    assert sent == {"slash_commands": 1, "interactive": 9, "events_api": 2}
    assert 'releasebot_slack_requests_total{kind="command",status="200"} 1.0' in metrics
    assert 'releasebot_slack_requests_total{kind="interaction",status="200"} 9.0' in metrics
    assert 'releasebot_slack_requests_total{kind="event",status="200"} 2.0' in metrics
    assert 'releasebot_slack_ack_seconds_count{kind="interaction"} 9.0' in metrics


def test_slack_refreshes_the_connection_and_a_stop_closes_it(socket_bot: SocketBot) -> None:
    slack, driver = socket_bot.slack, socket_bot.driver
    asked, opened = len(slack.calls("apps.connections.open")), slack.socket_connections_opened()
    # Slack closes a connection a while after asking for its refresh; here after 3 s
    assert slack.refresh_socket_connections(close_after=3.0) == 1
    try:  # a new URL asked for, a new connection opened, the old one closed
        slack.wait_for(lambda: len(slack.calls("apps.connections.open")) > asked, timeout=30)
        slack.wait_for(
            lambda: slack.socket_connections_opened() > opened and slack.socket_connections() == 1,
            timeout=30,
        )
    except TimeoutError:
        pytest.fail(f"the bot did not reconnect; its log:\n{socket_bot.log.read_text()}")
    answer = driver.slash_command("U0ALICE", RANKING, "/release", "help")
    assert answer.status == 200
    assert "/release start RUNBOOK VERSION" in answer_text(answer)

    assert stop(socket_bot.process) == 0
    slack.wait_for(lambda: slack.socket_connections() == 0, timeout=10)
    log = socket_bot.log.read_text()
    assert "connected to Slack in Socket Mode" in log
    assert "Traceback" not in log


def test_a_click_that_cannot_be_recorded_is_not_acknowledged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over Socket Mode the answer to a click is the envelope's acknowledgement: when the vote
    cannot be recorded, none is sent (Slack shows the person the click failed), /metrics
    counts a 500, and the same click afterwards counts."""
    with Sandbox.start(database_url=database_url, socket_mode=True) as sandbox:
        bot = Bot(sandbox)
        bot.start_ranking_review()
        bot.pass_all_ranking_gates()

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the database went away")

        impatient = sandbox.slack.socket_driver(ack_timeout=1.0)
        with monkeypatch.context() as patch:
            patch.setattr(sandbox.runtime.services.approvals, "ballot", broken)
            failed = impatient.click("U0BRUNO", RANKING, "Approve")
        assert failed.status == NOT_ACKNOWLEDGED
        assert "approval.approve" not in bot.trail_kinds()
        assert bot.driver.click("U0BRUNO", RANKING, "Approve").status == 200
        assert bot.trail_kinds().count("approval.approve") == 1
        metrics = generate_latest(sandbox.runtime.metrics.registry).decode()
        assert 'releasebot_slack_requests_total{kind="interaction",status="500"} 1.0' in metrics


def test_every_connection_has_nagle_off(database_url: str) -> None:
    """Acknowledgements are small writes that Nagle's algorithm would hold back (see
    bot.slack.socket_mode): TCP_NODELAY on the first connection and on its replacement."""

    def nodelay(sandbox: Sandbox) -> int:
        assert sandbox.socket_handler is not None
        sock = sandbox.socket_handler.client.current_session.sock  # type: ignore[attr-defined]
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    with Sandbox.start(database_url=database_url, socket_mode=True) as sandbox:
        slack = sandbox.slack
        assert nodelay(sandbox) != 0
        first = sandbox.socket_handler.client.current_session  # type: ignore[union-attr]
        slack.refresh_socket_connections()
        slack.wait_for(lambda: len(slack.calls("apps.connections.open")) == 2, timeout=15)
        slack.wait_for(
            lambda: sandbox.socket_handler.client.current_session is not first,  # type: ignore[union-attr]
            timeout=15,
        )
        assert nodelay(sandbox) != 0

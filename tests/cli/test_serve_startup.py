"""`releasebot serve` as it is started in production, a child process, against the emulator:
the first deployment mistakes end in one line that says what to do, and a non-zero exit;
and its logs are quiet, structured when asked, and keep secrets and bodies out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.emulator import SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from tests.slack.processes import free_port, serve, stop

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(default_seed()).start()
    yield emulator
    emulator.stop()


def environment(slack: SlackEmulator, tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASEBOT_", "SLACK_"))}
    env.update(
        RELEASEBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        RELEASEBOT_RUNBOOKS=str(ROOT / "runbooks"),
        RELEASEBOT_TEMPLATES=str(ROOT / "templates"),
        RELEASEBOT_SLACK_API_URL=slack.api_url,
        RELEASEBOT_HOOK_TOKEN=HOOK_TOKEN,
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
    )
    env.update(changes)
    return env


def refused(env: dict[str, str], *options: str) -> str:
    """Run serve expecting it to refuse; return its one line."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_wrong_bot_token(slack: SlackEmulator, tmp_path: Path) -> None:
    env = environment(slack, tmp_path, SLACK_BOT_TOKEN="xoxb-0000-revoked-token")
    line = refused(env, "--port", str(free_port()))
    assert line == (
        "releasebot serve: refusing to start: Slack says SLACK_BOT_TOKEN is not valid "
        "(invalid_auth): set it to the Bot User OAuth Token (xoxb-...) from OAuth & Permissions"
    )
    assert "xoxb-0000" not in line


def test_slack_unreachable(slack: SlackEmulator, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    line = refused(environment(slack, tmp_path, RELEASEBOT_SLACK_API_URL=nowhere), "--port", "0")
    assert f"cannot reach Slack's Web API at {nowhere}" in line
    assert "RELEASEBOT_SLACK_API_URL" in line


def test_a_wrong_app_token_in_socket_mode(slack: SlackEmulator, tmp_path: Path) -> None:
    env = environment(slack, tmp_path, SLACK_APP_TOKEN="xapp-1-A0WRONG-0000-deadbeef")
    line = refused(env, "--port", "0", "--socket")
    assert "Slack says SLACK_APP_TOKEN" in line and "connections:write" in line
    assert "deadbeef" not in line


def test_a_busy_port_is_said_before_any_slow_work(slack: SlackEmulator, tmp_path: Path) -> None:
    asked = len(slack.calls())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(environment(slack, tmp_path), "--port", str(port))
    assert line == (
        f"releasebot serve: refusing to start: port {port} on 127.0.0.1 is already in use "
        "(another releasebot or server?): stop it, or choose another port with --port"
    )
    assert not (tmp_path / "bot.db").exists()  # no migration ran
    assert len(slack.calls()) == asked  # nor any Slack call


def test_an_unreachable_database(slack: SlackEmulator, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://releasebot:s3cret-pw@127.0.0.1:{free_port()}/releasebot"
    line = refused(environment(slack, tmp_path, RELEASEBOT_DATABASE_URL=url), "--port", "0")
    assert "cannot open the database postgresql+psycopg://releasebot:***@127.0.0.1" in line
    assert "s3cret-pw" not in line


def test_logs_are_quiet_structured_and_keep_bodies_and_secrets_out(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = environment(slack, tmp_path, RELEASEBOT_LOG_FORMAT="json")
    process = serve(env, port, log)
    try:
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}/slack/events",
            data=b"payload=%7B%22type%22%3A%22TOP-SECRET-BODY%22%7D",
            headers={
                "X-Slack-Request-Timestamp": "1700000000",
                "X-Slack-Signature": "v0=00",
                "X-Request-Id": "lb-1234",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(forged)
        assert answer.value.code == 401
        assert answer.value.headers["X-Request-Id"] == "lb-1234"
    finally:
        assert stop(process) == 0
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    others = [line for line in text.splitlines() if not line.startswith("{")]
    assert all(line.startswith("releasebot: serving on") for line in others), others
    assert "TOP-SECRET-BODY" not in text and slack.bot_token not in text
    assert not any(r["logger"].startswith(("alembic", "apscheduler")) for r in records)
    assert not any("will be unused" in r["message"] for r in records)
    [refusal] = [r for r in records if "Slack request refused (401)" in r["message"]]
    assert refusal["request_id"] == "lb-1234"
    assert {"time", "level", "logger", "message"} <= set(refusal)

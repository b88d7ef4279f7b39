"""`releasebot serve` refuses to start without what it needs, and serves health and metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.cli import main
from bot.devtools.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_serve_refuses_to_start_without_slack_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err
    assert "SLACK_BOT_TOKEN" in err and "SLACK_SIGNING_SECRET" in err


def test_socket_mode_needs_an_app_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real-looking-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-real-looking-signing-secret")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["serve", "--socket", "--port", "0"]) == 2
    assert "SLACK_APP_TOKEN" in capsys.readouterr().err


def test_serve_refuses_to_start_with_an_invalid_runbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\nversion: 1\nchanels: [C0X]\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real-looking-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-real-looking-signing-secret")
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(tmp_path))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "invalid runbooks or templates" in err
    assert f"{tmp_path / 'broken.yaml'}:3: chanels: unknown key 'chanels'" in err


def test_placeholder_secrets_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "changeme")
    assert main(["check"]) == 2
    assert "placeholder" in capsys.readouterr().err


def test_health_and_metrics(database_url: str) -> None:
    with Sandbox.start(database_url=database_url) as sandbox:
        with urllib.request.urlopen(f"{sandbox.server.url}/healthz") as answer:
            assert answer.status == 200
            assert json.loads(answer.read()) == {
                "status": "ok",
                "database": "ok",
                "writer": "ok",
                "delivery": "ok",
                "executor": "ok",
            }
        sandbox.driver.slash_command("U0ALICE", "C0RANKREL", "/release", "help")
        with urllib.request.urlopen(f"{sandbox.server.url}/metrics") as answer:
            text = answer.read().decode()
        assert 'releasebot_slack_requests_total{kind="command",status="200"} 1.0' in text
        assert "releasebot_slack_ack_seconds_bucket" in text
        assert "releasebot_outbox_pending_jobs" in text
        for process_metric in (
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
        ):
            assert process_metric in text


def test_only_slack_posts_reach_bolt_and_other_paths_reach_flask(database_url: str) -> None:
    with Sandbox.start(database_url=database_url) as sandbox:
        with pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(f"{sandbox.server.url}/slack/events")
        assert got.value.code == 405
        assert got.value.headers["Allow"] == "POST"
        with pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(f"{sandbox.server.url}/slack/event")
        assert got.value.code == 404
        unsigned = urllib.request.Request(
            f"{sandbox.server.url}/slack/events", data=b"payload=%7B%7D", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(unsigned)
        assert got.value.code == 401
        with urllib.request.urlopen(f"{sandbox.server.url}/metrics") as answer:
            text = answer.read().decode()
        assert 'releasebot_slack_requests_total{kind="interaction",status="401"} 1.0' in text

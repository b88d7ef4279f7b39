"""The Dockerfile and compose.yaml keep to what the README's production checklist promises
(no container engine runs here: CI builds the image only where one does), and secrets can be
given as files through *_FILE variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.cli import main
from bot.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_VARIABLES = {
    str(name)
    for info in Settings.model_fields.values()
    if info.validation_alias is not None
    for name in getattr(info.validation_alias, "choices", [])
}


def test_the_image_is_slim_runs_as_a_user_and_checks_its_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert bases and all(base.startswith("python:3.11-slim") for base in bases)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.M)
    assert 'ENTRYPOINT ["releasebot"]' in dockerfile
    assert re.search(r'^CMD \["serve"', dockerfile, re.M)


def test_compose_runs_the_bot_on_postgresql_with_secrets_from_files() -> None:
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["migrate"]["command"] == ["db", "upgrade"]
    bot = services["bot"]
    assert bot["command"][0] == "serve"
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    variables = {**services["migrate"]["environment"], **bot["environment"]}
    for name, value in variables.items():
        plain = name.removesuffix("_FILE")
        assert plain in SETTINGS_VARIABLES, f"{name}: no such setting"
        if name.endswith("_FILE"):
            secret = value.removeprefix("/run/secrets/")
            assert secret in compose["secrets"] and secret in bot.get("secrets", []) + services[
                "migrate"
            ].get("secrets", [])
    assert {"SLACK_BOT_TOKEN_FILE", "SLACK_SIGNING_SECRET_FILE"} <= set(bot["environment"])


def test_secrets_are_read_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("xoxb-from-a-file\n")
    (tmp_path / "url").write_text("postgresql+psycopg://u:p@db/releasebot")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("RELEASEBOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("RELEASEBOT_DATABASE_URL_FILE", str(tmp_path / "url"))
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-a-file"
    assert settings.database_url == "postgresql+psycopg://u:p@db/releasebot"


def test_a_secret_file_that_cannot_be_used_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET_FILE", str(tmp_path / "missing"))
    assert main(["check"]) == 2
    assert (
        f"SLACK_SIGNING_SECRET_FILE: cannot read {tmp_path / 'missing'}" in capsys.readouterr().err
    )
    (tmp_path / "secret").write_text("changeme")
    monkeypatch.setenv("SLACK_SIGNING_SECRET_FILE", str(tmp_path / "secret"))
    assert main(["check"]) == 2  # a placeholder from a file is refused like one from the env
    assert "placeholder" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "also-set-directly-0123456789")
    assert main(["check"]) == 2
    assert "SLACK_SIGNING_SECRET and SLACK_SIGNING_SECRET_FILE are both set" in (
        capsys.readouterr().err
    )


def test_log_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASEBOT_LOG_LEVEL", "debug")
    monkeypatch.setenv("RELEASEBOT_LOG_FORMAT", "JSON")
    settings = load_settings()
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    monkeypatch.setenv("RELEASEBOT_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="RELEASEBOT_LOG_FORMAT"):
        load_settings()

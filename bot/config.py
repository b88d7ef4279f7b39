"""Settings: the only place the environment is read.

Build one with ``Settings()`` (or ``load_settings()``) at the edge and pass it down; nothing in the
package reads ``os.environ`` on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.runbook import Runbook

SLACK_API_URL = "https://slack.com/api/"
_PLACEHOLDERS = {"changeme", "change-me", "xoxb-your-token", "secret", "placeholder", "todo"}


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """releasebot's configuration, from the environment (see the README's table)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    database_url: str = Field(
        "sqlite:///releasebot.db", validation_alias=_env("RELEASEBOT_DATABASE_URL")
    )
    runbooks_dir: Path = Field(Path("runbooks"), validation_alias=_env("RELEASEBOT_RUNBOOKS"))
    templates_dir: Path = Field(Path("templates"), validation_alias=_env("RELEASEBOT_TEMPLATES"))
    slack_api_url: str = Field(SLACK_API_URL, validation_alias=_env("RELEASEBOT_SLACK_API_URL"))
    hook_token: SecretStr | None = Field(None, validation_alias=_env("RELEASEBOT_HOOK_TOKEN"))
    # The web pages (bot.web.pages): links from Slack, Sign in with Slack, sessions, automation.
    public_url: str | None = Field(None, validation_alias=_env("RELEASEBOT_PUBLIC_URL"))
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET")
    )
    session_secret: SecretStr | None = Field(
        None, validation_alias=_env("RELEASEBOT_SESSION_SECRET")
    )
    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, validation_alias=_env("RELEASEBOT_SESSION_HOURS")
    )
    web_token: SecretStr | None = Field(None, validation_alias=_env("RELEASEBOT_WEB_TOKEN"))

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "hook_token",
        "slack_client_secret",
        "session_secret",
        "web_token",
    )
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder, not a real secret")
        return value

    @field_validator("session_secret", "web_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")) or " " in value:
            raise ValueError("must be an http(s) URL such as https://releasebot.example.com")
        return value

    @field_validator("slack_client_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


def load_settings(**overrides: object) -> Settings:
    """Read the environment now (never at import time); ``overrides`` win over it."""
    return Settings(**overrides)  # type: ignore[arg-type]


def executor_secrets(runbooks: Iterable[Runbook]) -> dict[str, str]:
    """The secrets the runbooks' webhook executors name (``secret_env``), from the environment.

    Read once at start-up, like the settings; a missing one makes that executor fail with a
    clear message when it runs, not the bot refuse to start.
    """
    names = {
        path.executor.secret_env
        for runbook in runbooks
        for path in runbook.paths
        if path.executor.type == "webhook" and path.executor.secret_env
    }
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}

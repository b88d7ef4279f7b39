"""Settings: the only place the environment is read.

Build one with ``Settings()`` (or ``load_settings()``) at the edge and pass it down; nothing in the
package reads ``os.environ`` on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.durations import format_duration, parse_duration
from bot.core.runbook import Runbook

SLACK_API_URL = "https://slack.com/api/"
MIN_HOOK_TOKEN = 16
MIN_RETENTION = timedelta(hours=1)
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
    sample_retention: timedelta = Field(
        timedelta(days=7), validation_alias=_env("RELEASEBOT_SAMPLE_RETENTION")
    )

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", "hook_token")
    @classmethod
    def _refuse_placeholders(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder, not a real secret")
        if info.field_name == "hook_token" and len(value.get_secret_value()) < MIN_HOOK_TOKEN:
            # anyone may knock on /hooks/*: a short bearer token is guessed
            raise ValueError(f"is too short: use at least {MIN_HOOK_TOKEN} random characters")
        return value

    @field_validator("sample_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> timedelta:
        retention = parse_duration(value)  # "7d", "36h", or seconds
        if retention < MIN_RETENTION:
            raise ValueError(f"must be at least {format_duration(MIN_RETENTION)}")
        return retention

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

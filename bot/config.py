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
    # Bounds on waits (README: "When the database goes silent").
    database_timeout: float = Field(
        5.0, gt=0, le=300, validation_alias=_env("RELEASEBOT_DATABASE_TIMEOUT")
    )
    answer_timeout: float = Field(
        2.5, gt=0, le=60, validation_alias=_env("RELEASEBOT_ANSWER_TIMEOUT")
    )
    # The decision trail's key and checkpoints (README: "Who can check the trail").
    trail_key: SecretStr | None = Field(None, validation_alias=_env("RELEASEBOT_TRAIL_KEY"))
    trail_key_file: Path | None = Field(
        None, validation_alias=_env("RELEASEBOT_TRAIL_KEY_FILE")
    )
    trail_checkpoint_channel: str | None = Field(
        None, validation_alias=_env("RELEASEBOT_TRAIL_CHECKPOINT_CHANNEL")
    )
    trail_checkpoint_file: Path | None = Field(
        None, validation_alias=_env("RELEASEBOT_TRAIL_CHECKPOINT_FILE")
    )
    trail_checkpoint_every: float = Field(
        3600.0, ge=0, validation_alias=_env("RELEASEBOT_TRAIL_CHECKPOINT_EVERY")
    )

    @field_validator(
        "slack_bot_token", "slack_signing_secret", "slack_app_token", "hook_token", "trail_key"
    )
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder, not a real secret")
        return value

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

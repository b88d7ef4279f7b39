"""Settings: the only place the environment is read.

Build one with ``Settings()`` (or ``load_settings()``) at the edge and pass it down; nothing in the
package reads ``os.environ`` on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.core.durations import format_duration, parse_duration
from bot.core.runbook import Runbook
from bot.resources import default_templates_dir

SLACK_API_URL = "https://slack.com/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
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
    templates_dir: Path = Field(
        default_factory=default_templates_dir, validation_alias=_env("RELEASEBOT_TEMPLATES")
    )
    slack_api_url: str = Field(SLACK_API_URL, validation_alias=_env("RELEASEBOT_SLACK_API_URL"))
    hook_token: SecretStr | None = Field(None, validation_alias=_env("RELEASEBOT_HOOK_TOKEN"))
    log_level: str = Field("INFO", validation_alias=_env("RELEASEBOT_LOG_LEVEL"))
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias=_env("RELEASEBOT_LOG_FORMAT")
    )
    sample_retention: timedelta = Field(
        timedelta(days=7), validation_alias=_env("RELEASEBOT_SAMPLE_RETENTION")
    )
    # Query-backed criteria (bot.services.monitoring): the Prometheus they ask, and the name
    # of the environment variable holding its bearer token (if it needs one).
    prometheus_url: str | None = Field(None, validation_alias=_env("RELEASEBOT_PROMETHEUS_URL"))
    prometheus_token_env: str | None = Field(
        None, validation_alias=_env("RELEASEBOT_PROMETHEUS_TOKEN_ENV")
    )
    prometheus_timeout: float = Field(
        10.0, gt=0, le=120, validation_alias=_env("RELEASEBOT_PROMETHEUS_TIMEOUT")
    )

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

    # Bounds on waits (README: "When the database goes silent").
    database_timeout: float = Field(
        5.0, gt=0, le=300, validation_alias=_env("RELEASEBOT_DATABASE_TIMEOUT")
    )
    answer_timeout: float = Field(
        2.5, gt=0, le=60, validation_alias=_env("RELEASEBOT_ANSWER_TIMEOUT")
    )
    # The decision trail's key and checkpoints (README: "Who can check the trail").
    trail_key: SecretStr | None = Field(None, validation_alias=_env("RELEASEBOT_TRAIL_KEY"))
    trail_checkpoint_channel: str | None = Field(
        None, validation_alias=_env("RELEASEBOT_TRAIL_CHECKPOINT_CHANNEL")
    )
    trail_checkpoint_file: Path | None = Field(
        None, validation_alias=_env("RELEASEBOT_TRAIL_CHECKPOINT_FILE")
    )
    trail_checkpoint_every: float = Field(
        3600.0, ge=0, validation_alias=_env("RELEASEBOT_TRAIL_CHECKPOINT_EVERY")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FileVariables(settings_cls), file_secret_settings)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "hook_token",
        "slack_client_secret",
        "session_secret",
        "web_token",
        "trail_key",
    )
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


class FileVariables(PydanticBaseSettingsSource):
    """``NAME_FILE=/path`` sets ``NAME`` to that file's contents (a trailing newline dropped),
    for secrets mounted as files (Docker and Kubernetes secrets). Setting both is an error."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, info in self.settings_cls.model_fields.items():
            alias = info.validation_alias
            names = alias.choices if isinstance(alias, AliasChoices) else [field_name.upper()]
            for name in map(str, names):
                path = os.environ.get(f"{name}_FILE")
                if not path:
                    continue
                if os.environ.get(name):
                    raise SettingsFileError(f"{name} and {name}_FILE are both set: keep one")
                try:
                    text = Path(path).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise SettingsFileError(f"{name}_FILE: cannot read {path}: {error}") from None
                values[field_name] = text.removesuffix("\n").removesuffix("\r")
        return values


class SettingsFileError(ValueError):
    """A ``*_FILE`` variable names a file that cannot be read, or clashes with its variable."""


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


def prometheus_tokens(settings: Settings, runbooks: Iterable[Runbook]) -> dict[str, str]:
    """The bearer tokens of the Prometheus servers the queries ask (``token_env`` of the
    settings and of each runbook's ``prometheus``), read once at start-up like the rest; a
    missing one is sent as no token (Prometheus or its proxy then says why it refuses)."""
    names = {settings.prometheus_token_env} | {
        runbook.prometheus.token_env for runbook in runbooks if runbook.prometheus is not None
    }
    return {name: os.environ[name] for name in sorted(n for n in names if n) if name in os.environ}

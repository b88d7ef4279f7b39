"""The field types runbooks are made of (names, durations, time zones, sustain), and the
strict base every runbook model derives from (``bot.core.runbook`` re-exports them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from bot.core.durations import parse_duration

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MetricName = Annotated[str, Field(pattern=r"^[A-Za-z_:][A-Za-z0-9_:.]{0,127}$")]
ChannelId = Annotated[str, Field(pattern=r"^[CGD][A-Z0-9]{2,}$")]
UserId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")]
MemberId = Annotated[str, Field(pattern=r"^[UWS][A-Z0-9]{2,}$")]  # user or user group


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _sustain(value: object) -> int | timedelta:
    if isinstance(value, bool):
        raise ValueError("expected a number of consecutive samples or a duration such as '5m'")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("a number of consecutive samples must be at least 1")
        return value
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(
            f"expected a number of consecutive samples or a duration such as '5m', got {value!r}"
        ) from None


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
Sustain = Annotated[int | timedelta, BeforeValidator(_sustain)]
Rating = Annotated[int, Field(ge=0, le=5)]


class Strict(BaseModel):
    """Unknown keys are refused (a typo must not pass silently); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

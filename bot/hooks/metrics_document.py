"""The generic metric-samples document: the body of ``POST /hooks/metrics`` and of
``releasebot evaluate --samples FILE``.

``{"runbook": ID, "samples": [{"metric": NAME, "value": FLOAT, "at": ISO-8601}, ...]}``; the
runbook key is optional for ``evaluate``. Times without a zone are taken as UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from bot.core.criteria import Sample

MAX_SAMPLES = 100_000
# Validation context key: accept NaN values (``NaN`` or ``"NaN"``), which the criteria count as
# missing data (``releasebot evaluate``); infinities stay refused.
NAN_IS_MISSING = "nan_is_missing"


class SampleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=128)
    value: float
    at: datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float, info: ValidationInfo) -> float:
        if math.isnan(value) and (info.context or {}).get(NAN_IS_MISSING):
            return value  # the core counts it as missing data
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class SamplesDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runbook: str | None = None
    samples: list[SampleIn] = Field(max_length=MAX_SAMPLES)

    def to_samples(self) -> list[Sample]:
        return [Sample(metric=s.metric, value=s.value, at=s.at) for s in self.samples]


class SamplesError(ValueError):
    """The document is not valid; the message lists each problem as ``field: message``."""


def parse_samples_document(raw: str | bytes, *, nan_is_missing: bool = False) -> SamplesDocument:
    try:
        return SamplesDocument.model_validate_json(raw, context={NAN_IS_MISSING: nan_is_missing})
    except ValidationError as error:
        lines = []
        for detail in error.errors(include_url=False):
            where = ".".join(str(part) for part in detail["loc"]) or "document"
            lines.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
        raise SamplesError("\n".join(lines)) from None


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant for ``--now``; a time without a zone is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r} (e.g. 2026-11-22T10:03:00Z)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")

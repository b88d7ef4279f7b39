"""The body of ``POST /hooks/metrics``, read strictly: what monitoring sends is stored as is.

``{"runbook": ID, "samples": [{"metric": NAME, "value": NUMBER, "at": ISO-8601}, ...]}``.

- ``value`` is a JSON number (or a string holding one, as Prometheus's API writes them); a
  boolean is not a value. ``NaN`` (the literal, or ``"NaN"``) counts as missing data, as the
  README says: the sample is left out and reported, never stored and never an error.
  Infinities are refused.
- ``at`` is an ISO-8601 string with its zone, from 1970 on, at most ``MAX_AHEAD`` after the
  bot's clock; epoch numbers and times without a zone are refused (400, with the reason).

``releasebot evaluate`` reads the same shape more leniently (``bot.hooks.metrics_document``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from bot.core.criteria import Sample
from bot.hooks.payloads import PayloadError, hook_instant, payload_error, too_far_ahead

MAX_SAMPLES = 100_000


class HookSample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=128)
    value: float | None  # None: NaN, missing data
    at: datetime

    @field_validator("value", mode="before")
    @classmethod
    def _number(cls, raw: object) -> float | None:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            kind = "a boolean" if isinstance(raw, bool) else type(raw).__name__
            raise PydanticCustomError("float_type", f"Input should be a valid number, not {kind}")
        try:
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except (ValueError, OverflowError):
            shown = repr(str(raw)[:40])
            raise PydanticCustomError(
                "float_parsing", f"Input should be a valid number, not {shown}"
            ) from None
        if math.isnan(value):
            return None
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "must be a finite number")
        return value

    @field_validator("at", mode="before")
    @classmethod
    def _instant(cls, raw: object) -> datetime:
        return hook_instant(raw)


class HookSamples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runbook: str | None = None
    samples: list[HookSample] = Field(max_length=MAX_SAMPLES)


@dataclass(frozen=True)
class MetricsBody:
    runbook_id: str
    samples: list[Sample]
    missing: list[str] = field(default_factory=list)  # NaN samples left out, said why


def parse_metrics_body(document: Any, now: datetime) -> MetricsBody:
    """Validate a decoded JSON document; raises ``PayloadError`` listing what is wrong."""
    try:
        parsed = HookSamples.model_validate(document)
    except ValidationError as error:
        raise payload_error(error) from None
    problems, timestamps = [], False
    if parsed.runbook is None or not parsed.runbook.strip():
        problems.append("runbook: required on /hooks/metrics (the runbook id)")
    for index, sample in enumerate(parsed.samples):
        ahead = too_far_ahead(sample.at, now)
        if ahead is not None:
            problems.append(f"samples.{index}.at: {ahead}")
            timestamps = True
    if problems:
        raise PayloadError(problems, timestamps=timestamps)
    samples, missing = [], []
    for index, sample in enumerate(parsed.samples):
        if sample.value is None:
            missing.append(
                f"samples.{index} ({sample.metric} at {sample.at.isoformat()}): "
                "NaN counts as missing data; not stored"
            )
        else:
            samples.append(Sample(sample.metric, sample.value, sample.at))
    return MetricsBody((parsed.runbook or "").strip(), samples, missing)

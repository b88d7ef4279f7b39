"""Webhook bodies as values: the Alertmanager v4 payload, and its alerts mapped to samples.

Pure: pydantic and the standard library only, ``now`` passed in.

How an alert becomes a sample (the SPEC's contract): the label ``runbook`` names the runbook,
the label ``metric`` the criterion, the annotation ``value`` the observed value.

- A **firing** alert's value becomes a sample at ``now`` (the time the bot received it).
  Alertmanager does not say when the value was observed: ``startsAt`` is when the alert
  began firing, not when this value was measured, and Prometheus refreshes the annotation at
  each evaluation, so "the latest value, as of its delivery" is the honest reading.
- A **resolved** alert's value becomes a sample at ``endsAt`` (the moment Alertmanager
  declared it resolved), or at ``now`` when ``endsAt`` is unset or later than ``now``. The
  same resolution delivered twice therefore maps to the same sample and is stored once.
- An alert without the ``runbook`` or ``metric`` label, or without a finite numeric
  ``value``, is not an error: it is listed in ``AlertIntake.skipped`` with the reason, so the
  hook can log it and still answer 2xx (Alertmanager retries anything else, for nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.criteria import Sample

SUPPORTED_VERSION = "4"
RUNBOOK_LABEL = "runbook"
METRIC_LABEL = "metric"
VALUE_ANNOTATION = "value"
MAX_ALERTS = 10_000


class _Tolerant(BaseModel):
    # Alertmanager adds fields over its versions: unknown keys are ignored, not refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Alert(_Tolerant):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def ended_at(self) -> datetime | None:
        """``endsAt`` when it means something: Alertmanager sends year 1 for "not set"."""
        if self.ends_at is None or self.ends_at.year <= 1:
            return None
        return self.ends_at


class AlertmanagerPayload(_Tolerant):
    """The body of Alertmanager's webhook notification, payload version 4."""

    version: str
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert] = Field(max_length=MAX_ALERTS)

    @field_validator("version")
    @classmethod
    def _version_4(cls, value: str) -> str:
        if value != SUPPORTED_VERSION:
            raise ValueError(
                f"unsupported webhook payload version {value!r}: releasebot reads version "
                f"{SUPPORTED_VERSION}"
            )
        return value


class PayloadError(ValueError):
    """The body is JSON but not a valid payload; ``problems`` are ``field: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def validation_problems(error: ValidationError) -> list[str]:
    """pydantic's errors as ``field.path: message`` lines (``document`` for the top level)."""
    lines = []
    for detail in error.errors(include_url=False):
        where = ".".join(str(part) for part in detail["loc"]) or "document"
        lines.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
    return lines


def parse_alertmanager_payload(document: Any) -> AlertmanagerPayload:
    """Validate a decoded JSON document; raises ``PayloadError`` listing what is wrong."""
    try:
        return AlertmanagerPayload.model_validate(document)
    except ValidationError as error:
        raise PayloadError(validation_problems(error)) from None


@dataclass(frozen=True)
class AlertSample:
    """An alert that carried a usable observation."""

    runbook_id: str
    sample: Sample
    status: str
    starts_at: datetime
    fingerprint: str
    alertname: str | None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description, for the service (and the trail) to record."""
        return {
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "status": self.status,
            "metric": self.sample.metric,
            "value": self.sample.value,
            "at": self.sample.at.isoformat(),
            "starts_at": self.starts_at.isoformat(),
        }


@dataclass(frozen=True)
class SkippedAlert:
    """An alert that could not become a sample, and why (logged and reported, not refused)."""

    fingerprint: str
    alertname: str | None
    reason: str
    runbook_id: str = ""
    metric: str = ""
    firing: bool = False  # a firing alert we cannot judge is reported as insufficient data

    def describe(self) -> str:
        name = f" ({self.alertname})" if self.alertname else ""
        return f"alert {self.fingerprint or '?'}{name}: {self.reason}"


@dataclass(frozen=True)
class AlertIntake:
    """What a notification holds: samples grouped by runbook, skipped alerts, truncation."""

    accepted: list[AlertSample] = field(default_factory=list)
    skipped: list[SkippedAlert] = field(default_factory=list)
    truncated_alerts: int = 0  # alerts Alertmanager left out of this notification (max_alerts)

    def by_runbook(self) -> dict[str, list[AlertSample]]:
        grouped: dict[str, list[AlertSample]] = {}
        for accepted in self.accepted:
            grouped.setdefault(accepted.runbook_id, []).append(accepted)
        return grouped


def alertmanager_samples(payload: AlertmanagerPayload, now: datetime) -> AlertIntake:
    """Map each alert of ``payload`` to a sample of its runbook's metric, or to a skip reason."""
    accepted: list[AlertSample] = []
    skipped: list[SkippedAlert] = []
    for alert in payload.alerts:
        alertname = alert.labels.get("alertname")
        runbook_id = alert.labels.get(RUNBOOK_LABEL, "").strip()
        metric = alert.labels.get(METRIC_LABEL, "").strip()
        value = _number(alert.annotations.get(VALUE_ANNOTATION))
        reason = None
        if not runbook_id:
            reason = f"no {RUNBOOK_LABEL!r} label"
        elif not metric:
            reason = f"no {METRIC_LABEL!r} label"
        elif value is None:
            shown = alert.annotations.get(VALUE_ANNOTATION)
            reason = (
                f"no {VALUE_ANNOTATION!r} annotation"
                if shown is None
                else f"annotation {VALUE_ANNOTATION!r} is not a finite number: {shown[:40]!r}"
            )
        if reason is not None or value is None:
            skipped.append(
                SkippedAlert(
                    alert.fingerprint,
                    alertname,
                    reason or "no value",
                    runbook_id=runbook_id,
                    metric=metric,
                    firing=alert.status == "firing",
                )
            )
            continue
        at = now
        ended = alert.ended_at()
        if alert.status == "resolved" and ended is not None and ended < now:
            at = ended
        accepted.append(
            AlertSample(
                runbook_id=runbook_id,
                sample=Sample(metric=metric, value=value, at=at),
                status=alert.status,
                starts_at=alert.starts_at,
                fingerprint=alert.fingerprint,
                alertname=alertname,
            )
        )
    return AlertIntake(accepted, skipped, payload.truncated_alerts)


def _number(text: str | None) -> float | None:
    """A finite float from an annotation (Prometheus renders ``{{ $value }}`` as text)."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None

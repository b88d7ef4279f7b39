"""Webhook bodies as values: the Alertmanager v4 payload, and its alerts mapped to samples.

Pure: pydantic and the standard library only, ``now`` passed in.

How an alert becomes a sample (the SPEC's contract): the label ``runbook`` names the runbook,
the label ``metric`` the criterion, the annotation ``value`` the observed value.

What a notification means as evidence. Alertmanager sends the same alert again and again:
at every ``group_interval`` while its group changes, at every ``repeat_interval``, on retries,
from each peer of an HA cluster, and to every replica of the bot. None of that is a new
observation, so:

- A **firing** alert's observation is identified by its fingerprint, its ``startsAt`` (the
  episode) and its value: its ``alert_key``. It is timed at its first arrival (``now``; the
  i-th alert of a notification at ``now`` + i microseconds, so two alerts stay two), carries
  ``since = startsAt`` (Prometheus vouches the condition has held since then), and every later
  delivery of the same key is the same observation: it only moves the sample's
  ``seen_until`` forward. So a count ``sustain`` counts distinct values, never re-sends; a
  duration ``sustain`` is measured from ``startsAt`` to the latest delivery; and an alert that
  keeps firing unchanged keeps the data fresh. A new value in the same episode is a new
  observation. Alertmanager does not say when a value was measured (Prometheus refreshes
  the annotation at each evaluation), so "the value, as of its delivery" is the honest reading.
- A **resolved** alert's value becomes a sample at ``endsAt`` (the moment Alertmanager
  declared it resolved), or at ``now`` when ``endsAt`` is unset or later than ``now``; its
  key is the episode's, so a resolution delivered again (or to two replicas) is stored once.
- An alert without the ``runbook`` or ``metric`` label, or without a finite numeric
  ``value``, is not an error: it is listed in ``AlertIntake.skipped`` with the reason, so the
  hook can log it and still answer 2xx (Alertmanager retries anything else, for nothing).
- Times must be ISO-8601 with a zone, from 1970 on (``endsAt`` of year 1 means "unset"), and
  ``startsAt`` at most ``MAX_AHEAD`` after ``now``: anything else is refused (400).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from bot.core.criteria import Sample
from bot.core.durations import format_duration

SUPPORTED_VERSION = "4"
RUNBOOK_LABEL = "runbook"
METRIC_LABEL = "metric"
VALUE_ANNOTATION = "value"
MAX_ALERTS = 10_000
MAX_PROBLEMS = 100  # problems listed in a refusal (a body may hold 100,000 bad samples)
MAX_AHEAD = timedelta(minutes=5)  # how far ahead of the bot's clock a sample may be
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
TIMESTAMP_ERROR = "timestamp"  # pydantic error type of a refused time: answered 400
ISO_EXAMPLE = "2026-11-22T10:03:00Z"


def _refused(message: str) -> PydanticCustomError:
    return PydanticCustomError(TIMESTAMP_ERROR, message)  # no context: shown as written


def hook_instant(raw: object, *, unset_allowed: bool = False) -> datetime:
    """A time from a webhook body: an ISO-8601 string with a zone, from 1970 on.

    ``unset_allowed``: year 1 (Go's zero time, Alertmanager's "not set") passes as is.
    Raises ``PydanticCustomError`` of type ``timestamp`` with the reason.
    """
    if not isinstance(raw, str):
        kind = "a boolean" if isinstance(raw, bool) else type(raw).__name__
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            kind = "an epoch number"
        raise _refused(
            f"{kind} is not a time: give an ISO-8601 time with its zone, e.g. {ISO_EXAMPLE}"
        )
    shown = repr(raw[:40])
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _refused(
            f"{shown} is not an ISO-8601 time with a zone (e.g. {ISO_EXAMPLE})"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _refused(f"{shown} has no time zone: add Z (UTC) or an offset such as +01:00")
    if unset_allowed and moment.year == 1:
        return datetime(1, 1, 1, tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # past year 9999 (or before year 1) in UTC
        raise _refused(f"{shown} is out of range") from None
    if moment < EARLIEST:
        raise _refused(f"{shown} is before 1970: not a time a sample can have")
    return moment


def too_far_ahead(moment: datetime, now: datetime) -> str | None:
    """Why ``moment`` is refused as later than ``now`` allows, or None."""
    if moment - now <= MAX_AHEAD:
        return None
    return (
        f"{moment.isoformat()} is {format_duration(moment - now)} ahead of the bot's clock "
        f"({now.isoformat()}); more than {format_duration(MAX_AHEAD)} ahead is refused"
    )


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

    @field_validator("starts_at", mode="before")
    @classmethod
    def _starts(cls, value: object) -> datetime:
        return hook_instant(value)

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends(cls, value: object) -> datetime | None:
        return None if value is None else hook_instant(value, unset_allowed=True)

    def identity(self) -> str:
        """Alertmanager's fingerprint, or one made the same way from the labels."""
        if self.fingerprint:
            return self.fingerprint
        labels = json.dumps(self.labels, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(labels.encode()).hexdigest()[:16]

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
    """The body is JSON but not a valid payload; ``problems`` are ``field: message`` lines.

    ``timestamps``: some problem is a refused time (answered 400 rather than 422)."""

    def __init__(self, problems: list[str], *, timestamps: bool = False) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.timestamps = timestamps


def payload_error(error: ValidationError) -> PayloadError:
    """pydantic's errors as ``field.path: message`` lines (``document`` for the top level)."""
    lines: list[str] = []
    timestamps = False
    details = error.errors(include_url=False)
    for detail in details:
        timestamps |= detail["type"] == TIMESTAMP_ERROR
        if len(lines) < MAX_PROBLEMS:
            where = ".".join(str(part) for part in detail["loc"]) or "document"
            lines.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
    if len(details) > MAX_PROBLEMS:
        lines.append(f"... and {len(details) - MAX_PROBLEMS} more")
    return PayloadError(lines, timestamps=timestamps)


def parse_alertmanager_payload(document: Any) -> AlertmanagerPayload:
    """Validate a decoded JSON document; raises ``PayloadError`` listing what is wrong."""
    try:
        return AlertmanagerPayload.model_validate(document)
    except ValidationError as error:
        raise payload_error(error) from None


@dataclass(frozen=True)
class AlertSample:
    """An alert that carried a usable observation."""

    runbook_id: str
    sample: Sample
    status: str
    starts_at: datetime
    fingerprint: str
    alertname: str | None
    alert_key: str  # the observation's identity: its re-sends are the same observation

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
        ahead = too_far_ahead(alert.starts_at, now)
        if ahead is not None:
            skipped.append(SkippedAlert(alert.fingerprint, alertname, f"startsAt {ahead}"))
            continue
        episode = f"{alert.identity()}|{alert.starts_at.isoformat()}"
        if alert.status == "firing":
            # Arrival time, one microsecond apart per alert: distinct alerts stay distinct.
            at = now + timedelta(microseconds=len(accepted))
            sample = Sample(metric, value, at, since=alert.starts_at)
            key = f"firing|{episode}|{value!r}"
        else:
            ended = alert.ended_at()
            at = ended if ended is not None and ended < now else now
            sample, key = Sample(metric, value, at), f"resolved|{episode}"
        accepted.append(
            AlertSample(
                runbook_id=runbook_id,
                sample=sample,
                status=alert.status,
                starts_at=alert.starts_at,
                fingerprint=alert.fingerprint,
                alertname=alertname,
                alert_key=key,
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

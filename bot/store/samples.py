"""Metric samples received from monitoring (and drills), kept for criteria evaluation.

One row per observation, in a *stream*: ``live`` for monitoring's samples, ``drill:...`` for a
drill's synthetic ones, which never mix with the live ones (their criteria states are apart
too). Monitoring redelivers when unsure (Alertmanager retries and re-sends, a sender's HTTP
client retries on a timeout, several replicas receive the same notification), so:

- a sample is identified by ``(runbook_id, metric, stream, at, value)``: a unique constraint
  and ``INSERT ... ON CONFLICT DO NOTHING`` store it once, on SQLite and PostgreSQL alike,
  even when two replicas receive the same delivery at the same moment;
- an Alertmanager alert's observation is also identified by its ``alert_key`` (fingerprint,
  ``startsAt`` and value, see ``bot.hooks.payloads``), whatever time it arrived at: a re-sent
  alert is the same observation, and only moves its ``seen_until`` forward.

The unique constraint's index, led by ``(runbook_id, metric, stream, at, value)``, serves the
reads in key order (``samples_between``) and ``recent_samples``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    CheckConstraint,
    Float,
    Index,
    UniqueConstraint,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.core.replay import OrderKey, Sample
from bot.store.columns import UTCDateTime
from bot.store.transitions import connection_of, table_of

SampleSource = Literal["alertmanager", "metrics", "drill", "manual", "prometheus"]
SAMPLE_SOURCES: Final[tuple[str, ...]] = get_args(SampleSource)
LIVE: Final = "live"
DRILL: Final = "drill"  # a drill's stream is "drill" or starts with it, e.g. "drill:42"
_CHUNK: Final = 500  # rows per INSERT: well under SQLite's bound-parameter limit


class MetricSample(SQLModel, table=True):
    """One observed value of a runbook's metric, and where it came from."""

    __tablename__ = "metric_samples"
    __table_args__ = (
        UniqueConstraint(
            "runbook_id", "metric", "stream", "at", "value", name="uq_metric_samples_observation"
        ),
        Index(
            "uq_metric_samples_alert",
            "runbook_id",
            "metric",
            "stream",
            "alert_key",
            unique=True,
            sqlite_where=text("alert_key IS NOT NULL"),
            postgresql_where=text("alert_key IS NOT NULL"),
        ),
        CheckConstraint(
            "source IN ('alertmanager', 'metrics', 'drill', 'manual', 'prometheus')",
            name="ck_metric_samples_source",
        ),
        CheckConstraint(
            "(source = 'drill') = (stream <> 'live')", name="ck_metric_samples_drill_stream"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    runbook_id: str
    metric: str
    stream: str = Field(default=LIVE)  # live | drill:...
    value: float
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)  # when the value was observed
    since: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    seen_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    alert_key: str | None = None  # an alert's identity: its re-sends are this same row
    source: str  # alertmanager | metrics | drill | manual | prometheus
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


SAMPLES = table_of(MetricSample)
_COLUMNS = (
    SAMPLES.c.id,
    SAMPLES.c.metric,
    SAMPLES.c.value,
    SAMPLES.c.at,
    SAMPLES.c.since,
    SAMPLES.c.seen_until,
)


# No conflict target: a repeat of either the key or the alert's identity is skipped. Built
# once; run with many rows, SQLAlchemy sends them as one multi-row INSERT ... RETURNING.
_INSERT = {
    name: dialect_insert(SAMPLES)
    .on_conflict_do_nothing()
    .returning(*_COLUMNS, sort_by_parameter_order=True)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


@dataclass(frozen=True)
class Observation:
    """A sample to store, and the alert it came from (None: a plain sample)."""

    sample: Sample
    alert_key: str | None = None


@dataclass
class StoredObservations:
    """What storing changed: new rows (with their ids) and re-sent alerts seen again."""

    inserted: list[tuple[int, Sample]] = field(default_factory=list)
    refreshed: list[Sample] = field(default_factory=list)

    def changed(self) -> list[Sample]:
        return [sample for _, sample in self.inserted] + self.refreshed


def stream_for(source: str, stream: str | None) -> str:
    """The stream samples of ``source`` go to (``stream``, checked, or the default one):
    ``live`` for monitoring's, a stream starting ``drill`` for a drill's."""
    if source not in SAMPLE_SOURCES:
        raise ValueError(f"unknown sample source {source!r}; one of {', '.join(SAMPLE_SOURCES)}")
    if stream is None:
        return DRILL if source == "drill" else LIVE
    if (source == "drill") != (stream != LIVE) or (source == "drill") != stream.startswith(DRILL):
        raise ValueError(
            f"drill samples go to a drill stream, others to {LIVE!r}: "
            f"source {source!r} with stream {stream!r}"
        )
    return stream


def store_observations(
    db: Session | Connection,
    *,
    runbook_id: str,
    observations: Sequence[Observation],
    source: str,
    now: datetime,
    stream: str | None = None,
) -> StoredObservations:
    """Store what is new, move ``seen_until`` of alerts seen again; joins the caller's
    transaction. Exact repeats (also inside ``observations``) are stored once."""
    stream = stream_for(source, stream)
    for observation in observations:
        if not math.isfinite(observation.sample.value):
            # SQLite would store NaN as NULL; no criterion can compare with it anyway
            sample = observation.sample
            raise ValueError(f"{sample.metric}: value {sample.value} is not a finite number")
    rows: list[dict[str, Any]] = [
        {
            "runbook_id": runbook_id,
            "metric": o.sample.metric,
            "stream": stream,
            "value": o.sample.value,
            "at": o.sample.at,
            "since": o.sample.since,
            "seen_until": o.sample.seen_until,
            "alert_key": o.alert_key,
            "source": source,
            "received_at": now,
        }
        for o in observations
    ]
    connection = connection_of(db)
    statement = _INSERT[connection.dialect.name]
    result = StoredObservations()
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        found = connection.execute(statement, chunk[0] if len(chunk) == 1 else chunk)
        result.inserted += [(row.id, _sample(row)) for row in found]
    new = {(sample.metric, sample.key) for _, sample in result.inserted}
    for observation in observations:
        sample = observation.sample
        if observation.alert_key is None or (sample.metric, sample.key) in new:
            continue
        seen = update(SAMPLES).where(
            SAMPLES.c.runbook_id == runbook_id,
            SAMPLES.c.metric == sample.metric,
            SAMPLES.c.stream == stream,
            SAMPLES.c.alert_key == observation.alert_key,
            SAMPLES.c.at < sample.at,
            (SAMPLES.c.seen_until.is_(None)) | (SAMPLES.c.seen_until < sample.at),
        )
        refreshed = connection.execute(seen.values(seen_until=sample.at).returning(*_COLUMNS))
        result.refreshed += [_sample(row) for row in refreshed]
    return result


def add_samples(
    db: Session | Connection,
    *,
    runbook_id: str,
    samples: Sequence[Sample],
    source: str,
    now: datetime,
    stream: str | None = None,
) -> int:
    """Store plain ``samples`` (no criteria states: see ``record_samples`` for that); returns
    how many were new."""
    stored = store_observations(
        db,
        runbook_id=runbook_id,
        observations=[Observation(sample) for sample in samples],
        source=source,
        now=now,
        stream=stream,
    )
    return len(stored.inserted)


def _sample(row: Any) -> Sample:
    return Sample(row.metric, row.value, row.at, row.since, row.seen_until)


def recent_samples(
    db: Session | Connection,
    *,
    runbook_id: str,
    since: datetime,
    metrics: Collection[str] | None = None,
    stream: str = LIVE,
) -> list[Sample]:
    """The runbook's samples observed at or after ``since``, oldest first.

    ``metrics`` limits them to those metrics (None: all). Simultaneous samples of a metric
    come ordered by value, the order the criteria's replay expects.
    """
    statement = select(*_COLUMNS).where(
        SAMPLES.c.runbook_id == runbook_id, SAMPLES.c.stream == stream, SAMPLES.c.at >= since
    )
    if metrics is not None:
        statement = statement.where(SAMPLES.c.metric.in_(list(metrics)))
    statement = statement.order_by(SAMPLES.c.at, SAMPLES.c.metric, SAMPLES.c.value)
    return [_sample(row) for row in connection_of(db).execute(statement)]


def samples_between(
    db: Session | Connection,
    *,
    runbook_id: str,
    metric: str,
    stream: str,
    after: OrderKey | None,
    until: OrderKey | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """One stream's samples with keys after ``after`` (None: from the first) up to ``until``
    (None: to the last), in key order; at most ``limit`` of them."""
    statement = select(*_COLUMNS).where(
        SAMPLES.c.runbook_id == runbook_id,
        SAMPLES.c.metric == metric,
        SAMPLES.c.stream == stream,
    )
    key = tuple_(SAMPLES.c.at, SAMPLES.c.value)
    if after is not None:
        statement = statement.where(key > key_bound(after))
    if until is not None:
        statement = statement.where(key <= key_bound(until))
    statement = statement.order_by(SAMPLES.c.at, SAMPLES.c.value).limit(limit)
    return [_sample(row) for row in connection_of(db).execute(statement)]


def key_bound(key: OrderKey) -> Any:
    """``key`` as a row value, to compare with ``tuple_(at, value)``."""
    return tuple_(literal(key[0], UTCDateTime), literal(key[1], Float))

"""Metric samples received from monitoring (and drills), kept for criteria evaluation.

One row per observation. Monitoring redelivers when unsure (Alertmanager retries a webhook
that failed, a sender's HTTP client retries on a timeout), so an observation is identified by
``(runbook_id, metric, at, value)``: a unique constraint and ``INSERT ... ON CONFLICT DO
NOTHING`` store it once, on SQLite and PostgreSQL alike, even when two replicas receive the
same delivery at the same moment. That constraint's index, led by ``(runbook_id, metric,
at)``, also serves ``recent_samples``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import CheckConstraint, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.core.criteria import Sample
from bot.store.columns import UTCDateTime
from bot.store.transitions import connection_of, table_of

SampleSource = Literal["alertmanager", "metrics", "drill", "manual"]
SAMPLE_SOURCES: Final[tuple[str, ...]] = get_args(SampleSource)
_CHUNK: Final = 500  # rows per INSERT: well under SQLite's bound-parameter limit


class MetricSample(SQLModel, table=True):
    """One observed value of a runbook's metric, and where it came from."""

    __tablename__ = "metric_samples"
    __table_args__ = (
        UniqueConstraint(
            "runbook_id", "metric", "at", "value", name="uq_metric_samples_observation"
        ),
        CheckConstraint(
            "source IN ('alertmanager', 'metrics', 'drill', 'manual')",
            name="ck_metric_samples_source",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    runbook_id: str
    metric: str
    value: float
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)  # when the value was observed
    source: str  # alertmanager | metrics | drill | manual
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


_SAMPLES = table_of(MetricSample)


def add_samples(
    db: Session | Connection,
    *,
    runbook_id: str,
    samples: Sequence[Sample],
    source: str,
    now: datetime,
) -> int:
    """Store ``samples`` for ``runbook_id``; returns how many were new.

    Exact repeats of a stored observation (same metric, time and value), including repeats
    inside ``samples`` itself, are skipped, so a redelivered webhook counts once. Joins the
    caller's transaction.
    """
    if source not in SAMPLE_SOURCES:
        raise ValueError(f"unknown sample source {source!r}; one of {', '.join(SAMPLE_SOURCES)}")
    for sample in samples:
        if not math.isfinite(sample.value):
            # SQLite would store NaN as NULL; no criterion can compare with it anyway
            raise ValueError(f"{sample.metric}: value {sample.value} is not a finite number")
    rows: list[dict[str, Any]] = [
        {
            "runbook_id": runbook_id,
            "metric": sample.metric,
            "value": sample.value,
            "at": sample.at,
            "source": source,
            "received_at": now,
        }
        for sample in samples
    ]
    connection = connection_of(db)
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    stored = 0
    for start in range(0, len(rows), _CHUNK):
        statement = (
            insert(_SAMPLES)
            .values(rows[start : start + _CHUNK])
            .on_conflict_do_nothing(index_elements=["runbook_id", "metric", "at", "value"])
            .returning(_SAMPLES.c.id)
        )
        stored += len(connection.execute(statement).all())
    return stored


def recent_samples(
    db: Session | Connection,
    *,
    runbook_id: str,
    since: datetime,
    metrics: Collection[str] | None = None,
) -> list[Sample]:
    """The runbook's samples observed at or after ``since``, oldest first.

    ``metrics`` limits them to those metrics (None: all). Simultaneous samples of a metric
    come ordered by value, the order the criteria's replay expects.
    """
    statement = select(_SAMPLES.c.metric, _SAMPLES.c.value, _SAMPLES.c.at).where(
        _SAMPLES.c.runbook_id == runbook_id, _SAMPLES.c.at >= since
    )
    if metrics is not None:
        statement = statement.where(_SAMPLES.c.metric.in_(list(metrics)))
    statement = statement.order_by(_SAMPLES.c.at, _SAMPLES.c.metric, _SAMPLES.c.value)
    rows = connection_of(db).execute(statement)
    return [Sample(metric=row.metric, value=row.value, at=row.at) for row in rows]

"""The newest answer of each query-backed criterion's query (``bot.core.query_evidence``).

One row per runbook and metric, replaced by each poll whose time is not older than the one
stored (a conditional upsert: two replicas, or a retried poll, cannot move it backwards).
The values themselves are stored as samples (source ``prometheus``); this row keeps what a
sample cannot: the query as asked, the raw text Prometheus sent, and why a poll gave nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel

from bot.core.query_evidence import QueryReading
from bot.store.columns import UTCDateTime
from bot.store.transitions import connection_of, table_of


class QueryReadingRow(SQLModel, table=True):
    """A criterion's newest query answer: a value and its raw text, or the reason for none."""

    __tablename__ = "query_readings"

    runbook_id: str = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    query: str
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)  # the time the query asked about
    value: float | None = None
    raw: str | None = None
    reason: str | None = None
    detail: str | None = None
    arithmetic: str | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


READINGS = table_of(QueryReadingRow)


def save_reading(
    db: Session, *, runbook_id: str, metric: str, reading: QueryReading, now: datetime
) -> None:
    """Store ``reading`` unless a newer one is stored; joins the caller's transaction."""
    connection = connection_of(db)
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    values = {
        "query": reading.query,
        "at": reading.at,
        "value": reading.value,
        "raw": reading.raw,
        "reason": reading.reason,
        "detail": reading.detail,
        "arithmetic": reading.arithmetic,
        "updated_at": now,
    }
    statement = insert(READINGS).values(runbook_id=runbook_id, metric=metric, **values)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["runbook_id", "metric"],
            set_={name: getattr(statement.excluded, name) for name in values},
            where=READINGS.c.at <= statement.excluded.at,
        )
    )


def latest_readings(db: Session, *, runbook_id: str) -> dict[str, QueryReading]:
    """The newest reading of each query-backed criterion of ``runbook_id``, by metric."""
    rows = (
        connection_of(db).execute(select(READINGS).where(READINGS.c.runbook_id == runbook_id)).all()
    )
    return {
        row.metric: QueryReading(
            query=row.query,
            at=row.at,
            value=row.value,
            raw=row.raw,
            reason=row.reason,
            detail=row.detail,
            arithmetic=row.arithmetic,
        )
        for row in rows
    }

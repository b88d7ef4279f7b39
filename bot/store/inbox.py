"""Deliveries from Slack already acted on, so a redelivered event is acted on once.

Slack redelivers an event (same ``event_id``, with ``X-Slack-Retry-Num``) when it is unsure
we got it. ``claim_delivery`` inserts the delivery's key inside the transaction that acts on
it: the first delivery inserts it and commits its effects; a redelivery finds the key and
does nothing. If acting fails, the transaction rolls back with the key, and the retry acts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.store.columns import UTCDateTime
from bot.store.transitions import connection_of, table_of


class SlackDelivery(SQLModel, table=True):
    """A Slack event or action that has been acted on, by its idempotency key."""

    __tablename__ = "slack_deliveries"

    key: str = Field(primary_key=True, max_length=255)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


_DELIVERIES = table_of(SlackDelivery)


def claim_delivery(db: Session | Connection, *, key: str, now: datetime) -> bool:
    """True for the first delivery of ``key`` (act on it), False for a repeat (ignore it)."""
    connection = connection_of(db)
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(_DELIVERIES)
        .values(key=key[:255], received_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_DELIVERIES.c.key)
    )
    return connection.execute(statement).first() is not None

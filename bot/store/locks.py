"""Serializing decisions that read several rows before writing (write skew).

Two votes on one request, or two gates of one review, can each see the other still missing
and so neither completes the decision. Lock the row they share (``lock_row``) or a named key
(``lock_key``) first. SQLite already has one writer at a time (``BEGIN IMMEDIATE``), so both
are no-ops there.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from bot.store.transitions import connection_of, table_of


def lock_row(db: Session | Connection, *, model: type[SQLModel], row_id: int) -> None:
    """Hold ``model`` row ``row_id`` until the transaction ends (``SELECT ... FOR UPDATE``)."""
    connection = connection_of(db)
    if connection.dialect.name != "postgresql":
        return
    table = table_of(model)
    connection.execute(select(table.c.id).where(table.c.id == row_id).with_for_update())


def lock_key(db: Session | Connection, *, key: str) -> None:
    """Hold a transaction-scoped lock named ``key`` (e.g. ``rollbacks:ranking-model``)."""
    connection = connection_of(db)
    if connection.dialect.name != "postgresql":
        return
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})

"""Decisions that must happen once: conditional state transitions.

A transition is one statement whose outcome the database decides, so two replicas (or a Slack
retry racing a double click) can never both win: ``UPDATE ... WHERE id = :id AND state IN
(...)`` changes one row for exactly one caller. Which states may follow which is the core's
(``bot.core.lifecycle``); ``advance`` asks it. Use them inside a unit of work so that the
winner's trail event commits with the change (one vote per person: ``bot.store.votes``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Table, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from bot.core.lifecycle import Lifecycle

S = TypeVar("S", bound=StrEnum)


def connection_of(db: Session | Connection) -> Connection:
    """The connection a session works on (joining its transaction), or the connection itself."""
    return db if isinstance(db, Connection) else db.connection()


def table_of(model: type[SQLModel]) -> Table:
    table = getattr(model, "__table__", None)
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


def transition_state(
    db: Session | Connection,
    *,
    model: type[SQLModel],
    row_id: int,
    from_states: str | Collection[str],
    to_state: str,
    now: datetime,
    values: Mapping[str, Any] | None = None,
    only_if: Mapping[str, Any] | None = None,
) -> bool:
    """Move row ``row_id`` from one of ``from_states`` to ``to_state``; True if this caller won.

    ``values`` are set in the same statement (e.g. ``decided_at``, ``decided_by``), and
    ``updated_at`` is set to ``now`` when the table has it. ``only_if`` adds conditions on
    other columns (``{"endorsed_by": None}``: still unendorsed), so a change that keeps the
    state (``succeeded`` to ``succeeded``) is still made once. Objects already loaded in a
    session are not refreshed: re-read the row after winning if you need it.
    """
    table = table_of(model)
    expected = [from_states] if isinstance(from_states, str) else list(from_states)
    if not expected:
        raise ValueError("from_states must name at least one state")
    changes: dict[str, Any] = {"state": to_state, **(values or {})}
    if "updated_at" in table.c:
        changes.setdefault("updated_at", now)
    conditions = [table.c.id == row_id, table.c.state.in_(expected)]
    for name, value in (only_if or {}).items():
        column = table.c[name]
        conditions.append(column.is_(None) if value is None else column == value)
    statement = update(table).where(*conditions).values(**changes)
    return connection_of(db).execute(statement).rowcount == 1


def advance(
    db: Session | Connection,
    *,
    model: type[SQLModel],
    row_id: int,
    lifecycle: Lifecycle[S],
    to_state: S,
    now: datetime,
    values: Mapping[str, Any] | None = None,
    from_states: Collection[S] | None = None,
) -> bool:
    """``transition_state`` to ``to_state`` from every state that ``lifecycle`` lets it
    follow, or only from ``from_states`` (each of which it must allow: ``IllegalTransition``
    otherwise); True if this caller won."""
    if from_states is None:
        from_states = lifecycle.sources(to_state)
    else:
        for source in from_states:
            lifecycle.check(source, to_state)
    sources = [str(source) for source in from_states]
    return transition_state(
        db, model=model, row_id=row_id, from_states=sources, to_state=str(to_state), now=now,
        values=values,
    )  # fmt: skip

"""Decisions that must happen once: conditional state transitions and one vote per person.

Both are single statements whose outcome the database decides, so two replicas (or a Slack
retry racing a double click) can never both win: ``UPDATE ... WHERE id = :id AND state IN
(...)`` changes one row for exactly one caller, and ``INSERT ... ON CONFLICT DO NOTHING`` on
the (request, user) key stores one vote. Use them inside ``session_scope`` so that the
winner's trail event commits with the change.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from bot.store.pipeline import QUEUE
from bot.store.tables import ApprovalVote


def connection_of(db: Session | Connection) -> Connection:
    """The connection a session works on (joining its transaction), or the connection itself."""
    return db if isinstance(db, Connection) else db.connection()


def table_of(model: type[SQLModel]) -> Table:
    table = getattr(model, "__table__", None)
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


_VOTES = table_of(ApprovalVote)
# Built once per dialect: the click path executes them without rebuilding them.
_RECORD_VOTE = {
    name: dialect_insert(_VOTES)
    .on_conflict_do_nothing(index_elements=["request_id", "user_id"])
    .returning(_VOTES.c.id)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
_VOTES_OF = (
    select(_VOTES).where(_VOTES.c.request_id == bindparam("request_id")).order_by(_VOTES.c.id)
)


def _vote_and_votes_statement() -> Select[Any]:
    """PostgreSQL: insert a vote and read every vote of its request in one round trip.

    The statement's snapshot does not show its own insert, so the new row comes from the
    CTE's RETURNING; ``new`` tells the two apart (and that the vote was stored at all).
    """
    columns = [column.name for column in _VOTES.c]
    inserted = (
        postgresql_insert(_VOTES)
        .values(
            {name: bindparam(f"new_{name}", type_=_VOTES.c[name].type) for name in _VOTE_FIELDS}
        )
        .on_conflict_do_nothing(index_elements=["request_id", "user_id"])
        .returning(*_VOTES.c)
        .cte("inserted")
    )
    stored = select(*_VOTES.c, literal(False).label("new")).where(
        _VOTES.c.request_id == bindparam("request_id")
    )
    fresh = select(*(inserted.c[name] for name in columns), literal(True).label("new"))
    union = stored.union_all(fresh).subquery("votes")
    return select(union).order_by(union.c.id)


_VOTE_FIELDS = ("request_id", "user_id", "decision", "role", "action_ts", "created_at")
_VOTE_AND_VOTES = _vote_and_votes_statement()


def transition_state(
    db: Session | Connection,
    *,
    model: type[SQLModel],
    row_id: int,
    from_states: str | Collection[str],
    to_state: str,
    now: datetime,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Move row ``row_id`` from one of ``from_states`` to ``to_state``; True if this caller won.

    ``values`` are set in the same statement (e.g. ``decided_at``, ``decided_by``), and
    ``updated_at`` is set to ``now`` when the table has it. Objects already loaded in a
    session are not refreshed: re-read the row after winning if you need it.
    """
    table = table_of(model)
    expected = [from_states] if isinstance(from_states, str) else list(from_states)
    if not expected:
        raise ValueError("from_states must name at least one state")
    changes: dict[str, Any] = {"state": to_state, **(values or {})}
    if "updated_at" in table.c:
        changes.setdefault("updated_at", now)
    statement = (
        update(table).where(table.c.id == row_id, table.c.state.in_(expected)).values(**changes)
    )
    return connection_of(db).execute(statement).rowcount == 1


def record_vote(
    db: Session | Connection,
    *,
    request_id: int,
    user_id: str,
    decision: str,
    now: datetime,
    role: str | None = None,
    action_ts: str | None = None,
) -> bool:
    """Store one person's vote; False (nothing stored) if they have already voted."""
    connection = connection_of(db)
    statement = _RECORD_VOTE[connection.dialect.name]
    values = {
        "request_id": request_id,
        "user_id": user_id,
        "decision": decision,
        "role": role,
        "action_ts": action_ts,
        "created_at": now,
    }
    return connection.execute(statement, values).first() is not None


@dataclass(frozen=True)
class PendingVote:
    """A vote counted in a group commit and written with the batch's other votes at its end."""

    request_id: int
    user_id: str
    decision: str
    role: str | None
    action_ts: str | None
    created_at: datetime


VoteRecord = Row[Any] | PendingVote
_WRITE_VOTES = insert(_VOTES).inline()  # no RETURNING: the write can be queued
VOTES_READ_AHEAD = "releasebot_votes_read_ahead"
PENDING_VOTES = "releasebot_pending_votes"
_VOTES_AMONG = (
    select(_VOTES)
    .where(_VOTES.c.request_id.in_(bindparam("request_ids", expanding=True)))
    .order_by(_VOTES.c.id)
)


def read_votes_ahead(session: Session, *, request_ids: Sequence[int]) -> None:
    """Read the votes of requests this transaction has locked, for ``record_vote_and_read``.

    Call it only for requests whose rows are locked (``FOR UPDATE``) in this transaction, so
    that no other transaction can add a vote to them before it commits.
    """
    known: dict[int, list[VoteRecord]] = {request_id: [] for request_id in request_ids}
    for row in session.connection().execute(_VOTES_AMONG, {"request_ids": list(request_ids)}):
        known[row.request_id].append(row)
    session.info.setdefault(VOTES_READ_AHEAD, {}).update(known)


def write_pending_votes(session: Session) -> None:
    """Write the votes counted against votes read ahead (a plain INSERT: should the unique
    key still catch a repeat, the whole transaction fails rather than count it twice)."""
    pending: list[PendingVote] = session.info.pop(PENDING_VOTES, [])
    if pending:
        session.connection().execute(
            _WRITE_VOTES, [vars(vote) for vote in pending], execution_options=QUEUE
        )


def record_vote_and_read(
    db: Session | Connection,
    *,
    request_id: int,
    user_id: str,
    decision: str,
    now: datetime,
    role: str | None = None,
    action_ts: str | None = None,
) -> Sequence[VoteRecord] | None:
    """``record_vote``, then every vote on the request (oldest first); None for a repeat.

    When the request's votes were read ahead (``read_votes_ahead``), no statement at all: the
    vote joins them and is written at the end of the transaction. Otherwise one statement on
    PostgreSQL, two on SQLite (which has no INSERT in a CTE).
    """
    read_ahead = db.info.get(VOTES_READ_AHEAD) if isinstance(db, Session) else None
    if read_ahead is not None and request_id in read_ahead:
        known: list[VoteRecord] = read_ahead[request_id]
        if any(vote.user_id == user_id for vote in known):
            return None
        vote = PendingVote(request_id, user_id, decision, role, action_ts, now)
        known.append(vote)
        db.info.setdefault(PENDING_VOTES, []).append(vote)
        return list(known)
    connection = connection_of(db)
    values = {
        "request_id": request_id,
        "user_id": user_id,
        "decision": decision,
        "role": role,
        "action_ts": action_ts,
        "created_at": now,
    }
    if connection.dialect.name != "postgresql":
        if connection.execute(_RECORD_VOTE["sqlite"], values).first() is None:
            return None
        return vote_rows(connection, request_id=request_id)
    named = {"request_id": request_id, **{f"new_{name}": values[name] for name in _VOTE_FIELDS}}
    rows = connection.execute(_VOTE_AND_VOTES, named).all()
    return rows if any(row.new for row in rows) else None


def votes_for_request(db: Session | Connection, *, request_id: int) -> list[ApprovalVote]:
    """The votes on one request, oldest first."""
    return [
        ApprovalVote.model_validate(dict(row._mapping))
        for row in vote_rows(db, request_id=request_id)
    ]


def vote_rows(db: Session | Connection, *, request_id: int) -> Sequence[Row[Any]]:
    """The votes on one request as plain rows, oldest first (the click path: no objects)."""
    return connection_of(db).execute(_VOTES_OF, {"request_id": request_id}).all()

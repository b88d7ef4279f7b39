"""One vote per person: stored once whatever the number of clicks, replicas or retries.

``INSERT ... ON CONFLICT DO NOTHING`` on the (request, user) key stores one vote, so a double
click, a Slack retry or a second replica never counts a person twice. On the click path a
``VoteBook`` (a unit of work's, ``bot.store.unit_of_work``) holds the votes of the requests a
batch has locked, read in one statement; each vote is counted against them in memory and
written with the batch's other votes as the unit of work ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.store.pipeline import QUEUE
from bot.store.tables import ApprovalVote
from bot.store.transitions import connection_of, table_of

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
_VOTES_AMONG = (
    select(_VOTES)
    .where(_VOTES.c.request_id.in_(bindparam("request_ids", expanding=True)))
    .order_by(_VOTES.c.id)
)


@dataclass
class VoteBook:
    """The votes of requests a transaction has locked, read once and counted in memory; the
    votes counted against them are written when the unit of work ends (``write``)."""

    read_ahead: dict[int, list[VoteRecord]] = field(default_factory=dict)
    pending: list[PendingVote] = field(default_factory=list)

    def read(self, db: Session | Connection, *, request_ids: Sequence[int]) -> None:
        """Read the votes of ``request_ids`` ahead, for ``record_and_read``.

        Call it only for requests whose rows are locked (``FOR UPDATE``) in this transaction,
        so that no other transaction can add a vote to them before it commits.
        """
        known: dict[int, list[VoteRecord]] = {request_id: [] for request_id in request_ids}
        rows = connection_of(db).execute(_VOTES_AMONG, {"request_ids": list(request_ids)})
        for row in rows:
            known[row.request_id].append(row)
        self.read_ahead.update(known)

    def record_and_read(
        self,
        db: Session | Connection,
        *,
        request_id: int,
        user_id: str,
        decision: str,
        now: datetime,
        role: str | None = None,
        action_ts: str | None = None,
    ) -> Sequence[VoteRecord] | None:
        """``record_vote_and_read``, in memory when the request's votes were read ahead: the
        vote joins them and is written at the end of the transaction."""
        known = self.read_ahead.get(request_id)
        if known is None:
            return record_vote_and_read(
                db, request_id=request_id, user_id=user_id, decision=decision, now=now,
                role=role, action_ts=action_ts,
            )  # fmt: skip
        if any(vote.user_id == user_id for vote in known):
            return None
        vote = PendingVote(request_id, user_id, decision, role, action_ts, now)
        known.append(vote)
        self.pending.append(vote)
        return list(known)

    def write(self, db: Session | Connection) -> None:
        """Write the votes counted against votes read ahead (a plain INSERT: should the unique
        key still catch a repeat, the whole transaction fails rather than count it twice)."""
        pending, self.pending = self.pending, []
        if pending:
            connection_of(db).execute(
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

    One statement on PostgreSQL, two on SQLite (which has no INSERT in a CTE).
    """
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

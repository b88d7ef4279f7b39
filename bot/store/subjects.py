"""The subjects index: one row per release, rollback or drill of the trail, kept as events are
appended, so that listing subjects never reads the trail itself.

``note_appended`` runs inside every trail append (same transaction, after the chain lock): the
batch's events are folded per subject (``bot.core.subject_index``) and merged into the rows with one
``INSERT ... ON CONFLICT DO UPDATE`` each, queued on PostgreSQL's pipeline like the events. The
index is derived data: ``rebuild_subjects`` recomputes it from the trail (the migration that
creates it does, and so may an operator after loading events by other means).

Pages are keyset-paged on ``first_seq`` (newest subject first): a page costs the same however
many subjects lie before it, and subjects that gain events do not move between pages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Index, Select, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.core.subject_index import (
    STATUS_KINDS,
    EventFacts,
    SubjectSummary,
    bare_summary,
    fold_events,
    suggest_subjects,
    with_event,
)
from bot.core.trail import TrailEventDraft, TrailRecord
from bot.store.columns import UTCDateTime
from bot.store.pipeline import QUEUE
from bot.store.tables import TrailEventRow
from bot.store.transitions import connection_of, table_of

PAGE_SIZE = 50
SUGGESTION_POOL = 5000  # near-miss candidates considered: the most recent of a kind/runbook


class TrailSubject(SQLModel, table=True):
    """One subject of the trail as listed: derived from its events (see module docstring)."""

    __tablename__ = "trail_subjects"
    __table_args__ = (
        Index("ix_trail_subjects_first_seq", "first_seq", unique=True),
        Index("ix_trail_subjects_kind_first_seq", "kind", "first_seq"),
        Index("ix_trail_subjects_runbook_first_seq", "runbook_id", "first_seq"),
    )

    subject: str = Field(primary_key=True)
    kind: str  # release | rollback | drill
    runbook_id: str | None = None
    name: str  # what people search for: the release's version, or the id
    status: str | None = None
    outcome: str | None = None
    first_seq: int
    last_seq: int
    first_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    events: int


_SUBJECTS = table_of(TrailSubject)
_EVENTS = table_of(TrailEventRow)
_COLUMNS = [column.name for column in _SUBJECTS.c]


def _upsert(dialect_insert: Any) -> Any:
    statement = dialect_insert(_SUBJECTS).values({name: bindparam(name) for name in _COLUMNS})
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["subject"],
        set_={
            "runbook_id": func.coalesce(_SUBJECTS.c.runbook_id, new.runbook_id),
            "status": func.coalesce(new.status, _SUBJECTS.c.status),
            "outcome": func.coalesce(new.outcome, _SUBJECTS.c.outcome),
            "last_seq": new.last_seq,
            "last_at": new.last_at,
            "events": _SUBJECTS.c.events + new.events,
        },
    )


# Built once per dialect: every trail append executes one.
_UPSERT = {"postgresql": _upsert(postgresql_insert), "sqlite": _upsert(sqlite_insert)}


def note_appended(
    connection: Connection, drafts: Sequence[TrailEventDraft], records: Sequence[TrailRecord]
) -> None:
    """Merge a batch of just-appended events into the index (inside the append's transaction)."""
    facts = (
        EventFacts(record.seq, draft.kind, draft.subject, draft.payload, draft.at)
        for draft, record in zip(drafts, records, strict=True)
    )
    _merge(connection, fold_events(facts), queue=True)


def _merge(connection: Connection, summaries: Sequence[SubjectSummary], *, queue: bool) -> None:
    if summaries:
        rows = [{name: getattr(s, name) for name in _COLUMNS} for s in summaries]
        options = QUEUE if queue else {}
        connection.execute(_UPSERT[connection.dialect.name], rows, execution_options=options)


def rebuild_subjects(connection: Connection) -> int:
    """Recompute the whole index from the trail; returns the number of subjects.

    Counts and first and last events come from one aggregate over the (subject, seq) index;
    only the events that change a status (or name a runbook) are read in Python, in seq
    order. Memory grows with the subjects, not the events. Run it in a write transaction.
    """
    connection.execute(_SUBJECTS.delete())
    summaries: dict[str, SubjectSummary] = {}
    for subject, first_seq, first_at, last_seq, last_at, events in connection.exec_driver_sql(
        "SELECT s.subject, s.first_seq, f.at, s.last_seq, l.at, s.events FROM ("
        " SELECT subject, MIN(seq) AS first_seq, MAX(seq) AS last_seq, COUNT(*) AS events"
        " FROM trail_events GROUP BY subject) s"
        " JOIN trail_events f ON f.seq = s.first_seq JOIN trail_events l ON l.seq = s.last_seq"
    ):
        summaries[subject] = bare_summary(
            subject, (first_seq, _aware(first_at)), (last_seq, _aware(last_at)), events
        )
    deciding = select(_EVENTS.c.subject, _EVENTS.c.kind, _EVENTS.c.payload_json).where(
        _EVENTS.c.kind.in_(sorted(STATUS_KINDS))
    )
    for subject, kind, payload_json in connection.execute(deciding.order_by(_EVENTS.c.seq)):
        summaries[subject] = with_event(summaries[subject], kind, json.loads(payload_json))
    ordered = list(summaries.values())
    for start in range(0, len(ordered), 1000):
        _merge(connection, ordered[start : start + 1000], queue=False)
    return len(ordered)


def _aware(at: datetime | str) -> datetime:
    if isinstance(at, str):  # SQLite hands raw text to exec_driver_sql
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectFilter:
    """What a person narrowed the list to; every field optional."""

    runbook_id: str | None = None
    kind: str | None = None
    active_from: date | None = None  # subjects with an event on or after this day (UTC)
    active_to: date | None = None  # ... and on or before this one
    search: str | None = None  # part of the subject: a version, an id


@dataclass(frozen=True)
class SubjectPage:
    subjects: list[SubjectSummary]
    older: int | None  # pass as ``before`` for the next (older) page; None: this is the last
    newer: int | None  # pass as ``after`` for the previous (newer) page; None: this is the first


def list_subjects(
    db: Session | Connection,
    *,
    where: SubjectFilter = SubjectFilter(),
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> SubjectPage:
    """One page of subjects, newest first: those that began before seq ``before`` (or after
    ``after``, the page before), matching ``where``."""
    statement = _filtered(select(_SUBJECTS), where)
    if after is not None:
        statement = statement.where(_SUBJECTS.c.first_seq > after)
        statement = statement.order_by(_SUBJECTS.c.first_seq.asc())
    else:
        if before is not None:
            statement = statement.where(_SUBJECTS.c.first_seq < before)
        statement = statement.order_by(_SUBJECTS.c.first_seq.desc())
    rows = connection_of(db).execute(statement.limit(limit + 1)).all()
    more = len(rows) > limit
    found = [_summary(row) for row in rows[:limit]]
    if after is not None:
        found.reverse()
        older_exists, newer_exists = True, more
    else:
        older_exists, newer_exists = more, before is not None
    return SubjectPage(
        subjects=found,
        older=found[-1].first_seq if found and older_exists else None,
        newer=found[0].first_seq if found and newer_exists else None,
    )


def _filtered(statement: Select[Any], where: SubjectFilter) -> Select[Any]:
    c = _SUBJECTS.c
    if where.runbook_id:
        statement = statement.where(c.runbook_id == where.runbook_id)
    if where.kind:
        statement = statement.where(c.kind == where.kind)
    if where.active_from is not None:
        statement = statement.where(c.last_at >= datetime.combine(where.active_from, time(), UTC))
    if where.active_to is not None:
        end = datetime.combine(where.active_to + timedelta(days=1), time(), UTC)
        statement = statement.where(c.first_at < end)
    if where.search:
        pattern = "%" + _escape_like(where.search.strip()) + "%"
        statement = statement.where(
            or_(c.subject.like(pattern, escape="\\"), c.name.like(pattern, escape="\\"))
        )
    return statement


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summary(row: Any) -> SubjectSummary:
    return SubjectSummary(**{name: getattr(row, name) for name in _COLUMNS})


def subject_summary(db: Session | Connection, *, subject: str) -> SubjectSummary | None:
    row = connection_of(db).execute(select(_SUBJECTS).where(_SUBJECTS.c.subject == subject))
    found = row.first()
    return None if found is None else _summary(found)


def runbooks_in_index(db: Session | Connection) -> list[str]:
    """Every runbook the index names (for the list's filter), sorted."""
    statement = select(_SUBJECTS.c.runbook_id).where(_SUBJECTS.c.runbook_id.is_not(None))
    return sorted({row[0] for row in connection_of(db).execute(statement.distinct())})


def similar_subjects(db: Session | Connection, *, typed: str, limit: int = 3) -> list[str]:
    """Known subjects close to ``typed``, for a did-you-mean: among the most recent subjects
    of the same kind (and runbook, for a release), so the cost does not grow with history."""
    kind, _, rest = typed.partition(":")
    statement = select(_SUBJECTS.c.subject)
    if kind in ("release", "rollback", "drill"):
        statement = statement.where(_SUBJECTS.c.kind == kind)
        runbook_id = rest.partition(":")[0]
        if kind == "release" and runbook_id:
            narrowed = _pool(db, statement.where(_SUBJECTS.c.runbook_id == runbook_id))
            if narrowed:
                return suggest_subjects(typed, narrowed, limit=limit)
    return suggest_subjects(typed, _pool(db, statement), limit=limit)


def _pool(db: Session | Connection, statement: Select[Any]) -> list[str]:
    ordered = statement.order_by(_SUBJECTS.c.first_seq.desc()).limit(SUGGESTION_POOL)
    return [row[0] for row in connection_of(db).execute(ordered)]

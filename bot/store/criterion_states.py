"""Criteria states: each stream's replay head and its checkpoints, kept with the samples.

``record_samples`` stores samples and advances the heads of the criteria they feed in the same
transaction, so the states always match the samples stored. Each head row is locked while it
advances (``SELECT ... FOR UPDATE``; SQLite has one writer at a time anyway): two replicas
storing samples of one stream at once take turns, and the second one replays what the first
committed (its own late sample included) from the stored head. ``current_evaluations`` judges
a runbook's criteria from their heads: a few rows, whatever the history.

The algorithm is ``bot.core.resume.advance`` (pure); this module only reads and writes rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import JSON, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from bot.core.criteria import CriterionEvaluation, judge
from bot.core.replay import (
    OrderKey,
    Sample,
    initial_state,
    policy_of,
    state_from_json,
    state_to_json,
    step,
)
from bot.core.resume import CHECKPOINT_EVERY, Checkpoint, Head, Progress, advance, state_at
from bot.core.runbook import Criterion, Runbook
from bot.store.columns import UTCDateTime
from bot.store.samples import (
    LIVE,
    SAMPLES,
    Observation,
    key_bound,
    samples_between,
    store_observations,
    stream_for,
)
from bot.store.transitions import connection_of, table_of

_PAGE: Final = 2_000  # samples read at a time when a late sample is replayed
# A stream's first state replays the samples of this last stretch (what releasebot replayed
# on every push before 0005): a bounded cost, once, for a deployment upgraded with history.
FIRST_LOOKBACK: Final = timedelta(hours=6)


class CriterionHead(SQLModel, table=True):
    """A stream's replay after all its stored samples (see ``bot.core.resume``)."""

    __tablename__ = "criterion_heads"

    runbook_id: str = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    policy: str  # the criterion's rule the state was computed with (``policy_of``)
    state: dict[str, Any] = Field(sa_type=JSON, nullable=False)
    base_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    base_value: float | None = None  # with base_at: samples up to this key no longer count
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class CriterionCheckpoint(SQLModel, table=True):
    """A stream's replay after the samples up to ``(at, value)``, to resume from."""

    __tablename__ = "criterion_checkpoints"

    runbook_id: str = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    value: float = Field(primary_key=True)
    state: dict[str, Any] = Field(sa_type=JSON, nullable=False)


HEADS = table_of(CriterionHead)
CHECKPOINTS = table_of(CriterionCheckpoint)
# The intake's statements, built once: each sample's write executes them without compiling.
_THIS_HEAD = (
    HEADS.c.runbook_id == bindparam("of_runbook"),
    HEADS.c.metric == bindparam("of_metric"),
    HEADS.c.stream == bindparam("of_stream"),
)
_HEAD_FOR_UPDATE = select(HEADS).where(*_THIS_HEAD).with_for_update()
_SAVE_HEAD = (
    update(HEADS)
    .where(*_THIS_HEAD)
    .values(
        policy=bindparam("new_policy"),
        state=bindparam("new_state", type_=JSON),
        base_at=bindparam("new_base_at", type_=UTCDateTime),
        base_value=bindparam("new_base_value"),
        updated_at=bindparam("new_updated_at", type_=UTCDateTime),
    )
)
_RUNBOOK_HEADS = select(HEADS).where(
    HEADS.c.runbook_id == bindparam("runbook_id"), HEADS.c.stream == bindparam("stream")
)


@dataclass(frozen=True)
class Stream:
    runbook_id: str
    metric: str
    stream: str = LIVE

    def names(self) -> dict[str, str]:
        """This stream as the parameters of the intake's prebuilt statements."""
        return {"of_runbook": self.runbook_id, "of_metric": self.metric, "of_stream": self.stream}

    def of(self, table: Any) -> list[Any]:
        """The WHERE clauses that select this stream's rows of ``table``."""
        return [
            table.c.runbook_id == self.runbook_id,
            table.c.metric == self.metric,
            table.c.stream == self.stream,
        ]


class StoredHistory:
    """``bot.core.resume.History`` on the database, for one stream."""

    def __init__(self, connection: Connection, stream: Stream) -> None:
        self.connection = connection
        self.stream = stream

    def checkpoint_before(self, key: OrderKey) -> Checkpoint | None:
        row = self.connection.execute(
            select(CHECKPOINTS.c.at, CHECKPOINTS.c.value, CHECKPOINTS.c.state)
            .where(*self.stream.of(CHECKPOINTS))
            .where(tuple_(CHECKPOINTS.c.at, CHECKPOINTS.c.value) < key_bound(key))
            .order_by(CHECKPOINTS.c.at.desc(), CHECKPOINTS.c.value.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return Checkpoint((row.at, row.value), state_from_json(self.stream.metric, row.state))

    def samples_after(
        self, key: OrderKey | None, until: OrderKey | None = None
    ) -> Iterator[Sample]:
        while True:
            page = samples_between(
                self.connection,
                runbook_id=self.stream.runbook_id,
                metric=self.stream.metric,
                stream=self.stream.stream,
                after=key,
                until=until,
                limit=_PAGE,
            )
            yield from page
            if len(page) < _PAGE:
                return
            key = page[-1].key


def _head(metric: str, row: Any) -> Head:
    base = (row.base_at, row.base_value) if row.base_at is not None else None
    return Head(row.policy, state_from_json(metric, row.state), base)


def _locked_head(connection: Connection, stream: Stream) -> Head | None:
    """The stream's head, locked until the transaction ends; None when it has none yet."""
    row = connection.execute(_HEAD_FOR_UPDATE, stream.names()).first()
    return None if row is None else _head(stream.metric, row)


def _create_head(
    connection: Connection, stream: Stream, criterion: Criterion, now: datetime
) -> None:
    """Insert an empty head (unless another writer did) and lock it."""
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(HEADS)
        .values(
            runbook_id=stream.runbook_id,
            metric=stream.metric,
            stream=stream.stream,
            policy=policy_of(criterion),
            state=state_to_json(initial_state()),
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    if _locked_head(connection, stream) is None:
        raise RuntimeError(f"no criterion head for {stream} after creating it")


def save_progress(
    connection: Connection, stream: Stream, progress: Progress, now: datetime
) -> None:
    head = progress.head
    connection.execute(
        _SAVE_HEAD,
        {
            **stream.names(),
            "new_policy": head.policy,
            "new_state": state_to_json(head.state),
            "new_base_at": head.base[0] if head.base else None,
            "new_base_value": head.base[1] if head.base else None,
            "new_updated_at": now,
        },
    )
    if progress.drop_checkpoints:
        dropping = delete(CHECKPOINTS).where(*stream.of(CHECKPOINTS))
        if progress.drop_after is not None:
            after = key_bound(progress.drop_after)
            dropping = dropping.where(tuple_(CHECKPOINTS.c.at, CHECKPOINTS.c.value) > after)
        connection.execute(dropping)
    write_checkpoints(connection, stream, progress.checkpoints)


def write_checkpoints(
    connection: Connection, stream: Stream, checkpoints: Sequence[Checkpoint]
) -> None:
    if not checkpoints:
        return
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "runbook_id": stream.runbook_id,
            "metric": stream.metric,
            "stream": stream.stream,
            "at": checkpoint.key[0],
            "value": checkpoint.key[1],
            "state": state_to_json(checkpoint.state),
        }
        for checkpoint in checkpoints
    ]
    for start in range(0, len(rows), 500):
        statement = insert(CHECKPOINTS).values(rows[start : start + 500])
        statement = statement.on_conflict_do_update(
            index_elements=["runbook_id", "metric", "stream", "at", "value"],
            set_={"state": statement.excluded.state},
        )
        connection.execute(statement)


@dataclass(frozen=True)
class Recorded:
    stored: int  # new samples
    refreshed: int  # alerts seen again (the same observation, confirmed later)
    too_old: int  # new samples older than the stream's kept history: not stored
    replayed: int  # replay steps it took (what it cost)


def record_samples(
    db: Session | Connection,
    *,
    runbook: Runbook,
    observations: Sequence[Observation],
    source: str,
    now: datetime,
    stream: str | None = None,
) -> Recorded:
    """Store ``observations`` of ``runbook`` and advance its criteria's states; joins the
    caller's transaction. ``stream``: see ``bot.store.samples.stream_for``."""
    connection = connection_of(db)
    stream = stream_for(source, stream)
    stored = store_observations(
        connection,
        runbook_id=runbook.id,
        observations=observations,
        source=source,
        now=now,
        stream=stream,
    )
    ids = {(sample.metric, sample.key): row_id for row_id, sample in stored.inserted}
    changed: dict[str, list[Sample]] = {}
    for sample in stored.changed():
        changed.setdefault(sample.metric, []).append(sample)
    too_old: list[int] = []
    replayed = 0
    for metric in sorted(changed):  # one order for every writer: no deadlock between heads
        criterion = runbook.criterion(metric)
        if criterion is None:
            continue  # a metric read only by validation has a criterion; others are not judged
        where = Stream(runbook.id, metric, stream)
        head = _locked_head(connection, where)
        if head is None:  # the stream's first samples (or the first since an upgrade)
            replayed += rebuild_state(
                connection,
                runbook_id=runbook.id,
                criterion=criterion,
                now=now,
                stream=stream,
                since=now - FIRST_LOOKBACK,
            )
            continue
        progress = advance(criterion, head, changed[metric], StoredHistory(connection, where))
        save_progress(connection, where, progress, now)
        replayed += progress.replayed
        too_old += [ids[(metric, s.key)] for s in progress.ignored if (metric, s.key) in ids]
    if too_old:
        connection.execute(delete(SAMPLES).where(SAMPLES.c.id.in_(too_old)))
    return Recorded(
        stored=len(stored.inserted) - len(too_old),
        refreshed=len(stored.refreshed),
        too_old=len(too_old),
        replayed=replayed,
    )


def current_evaluations(
    db: Session | Connection, *, runbook: Runbook, now: datetime, stream: str = LIVE
) -> list[CriterionEvaluation]:
    """Every criterion of ``runbook`` judged at ``now`` from its stored state, in order."""
    connection = connection_of(db)
    rows = connection.execute(_RUNBOOK_HEADS, {"runbook_id": runbook.id, "stream": stream}).all()
    heads = {row.metric: _head(row.metric, row) for row in rows}
    evaluations = []
    for criterion in runbook.criteria:
        history = StoredHistory(connection, Stream(runbook.id, criterion.metric, stream))
        state = state_at(criterion, heads.get(criterion.metric), now, history)
        evaluations.append(judge(criterion, state, now))
    return evaluations


def rebuild_state(
    db: Session | Connection,
    *,
    runbook_id: str,
    criterion: Criterion,
    now: datetime,
    stream: str = LIVE,
    every: int = CHECKPOINT_EVERY,
    since: datetime | None = None,
) -> int:
    """Replay a stream's stored samples (all, or those from ``since`` on, which then is the
    stream's base) and store the result as its head (a repair, the state of samples loaded in
    bulk, or a stream's first); returns the samples replayed."""
    connection = connection_of(db)
    where = Stream(runbook_id, criterion.metric, stream)
    _create_head(connection, where, criterion, now)
    connection.execute(delete(CHECKPOINTS).where(*where.of(CHECKPOINTS)))
    state = initial_state()
    base = None if since is None else (since, -math.inf)
    pending: list[Checkpoint] = []
    for sample in StoredHistory(connection, where).samples_after(base):
        state = step(criterion, state, sample)
        if state.count % every == 0:
            pending.append(Checkpoint(sample.key, state))
            if len(pending) >= 500:
                write_checkpoints(connection, where, pending)
                pending = []
    write_checkpoints(connection, where, pending)
    save_progress(connection, where, Progress(head=Head(policy_of(criterion), state, base)), now)
    return state.count

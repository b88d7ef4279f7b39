"""Pruning samples that nothing needs any more, in small batches that never hold up clicks.

A sample may be deleted when it is older than the retention (``RELEASEBOT_SAMPLE_RETENTION``,
7 days by default) *and* no criterion still needs it:

- a criterion's state is its stream's head (``bot.store.criterion_states``), which holds
  nothing of the samples themselves; a late sample is replayed from the checkpoint before it.
  So a stream keeps the samples after its newest checkpoint older than the cutoff: that
  checkpoint becomes the stream's *base*, samples up to it are deleted, and a sample that
  arrives later with an older time is refused as too old (the hook says so).
- a rollback being executed or validated reads its validation metric's samples since the
  execution started: the cutoff of its runbook never passes that start.

Each batch (``batch_size`` rows, by id) is its own short transaction, so a click waits at most
for one batch. The time-driven job that calls ``prune_samples`` (once across replicas) is the
scheduler's; running it twice at once is harmless: both delete what neither needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Engine, delete, func, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from bot.core.replay import OrderKey
from bot.store.criterion_states import CHECKPOINTS, HEADS, Stream
from bot.store.engine import session_scope
from bot.store.samples import SAMPLES, key_bound
from bot.store.tables import Execution, RollbackRecommendation
from bot.store.transitions import table_of

BATCH_SIZE: Final = 2_000
_EXECUTIONS = table_of(Execution)
_RECOMMENDATIONS = table_of(RollbackRecommendation)


@dataclass(frozen=True)
class PruneReport:
    streams: int  # streams looked at
    deleted: int  # samples deleted
    batches: int  # transactions that deleted samples


def prune_samples(
    engine: Engine, *, now: datetime, retention: timedelta, batch_size: int = BATCH_SIZE
) -> PruneReport:
    """Delete every stream's samples older than ``now - retention`` that no criterion and no
    running validation needs; see the module docstring."""
    cutoff = now - retention
    with session_scope(engine) as session:
        connection = session.connection()
        streams = [
            Stream(row.runbook_id, row.metric, row.stream)
            for row in connection.execute(
                select(HEADS.c.runbook_id, HEADS.c.metric, HEADS.c.stream)
            )
        ]
        validating = _validations_since(connection)
    deleted = batches = 0
    for stream in streams:
        limit = min(cutoff, validating.get(stream.runbook_id, cutoff))
        base = _move_base(engine, stream, limit)
        while base is not None:
            with session_scope(engine) as session:
                ids = (
                    select(SAMPLES.c.id)
                    .where(*stream.of(SAMPLES))
                    .where(tuple_(SAMPLES.c.at, SAMPLES.c.value) <= key_bound(base))
                    .limit(batch_size)
                )
                gone = session.connection().execute(delete(SAMPLES).where(SAMPLES.c.id.in_(ids)))
            deleted += gone.rowcount
            batches += 1 if gone.rowcount else 0
            if gone.rowcount < batch_size:
                break
    return PruneReport(streams=len(streams), deleted=deleted, batches=batches)


def _validations_since(connection: Connection) -> dict[str, datetime]:
    """Per runbook, the earliest start of an execution still running or being validated."""
    started = func.coalesce(_EXECUTIONS.c.started_at, _EXECUTIONS.c.created_at)
    rows = connection.execute(
        select(_RECOMMENDATIONS.c.runbook_id, func.min(started).label("since"))
        .join(_RECOMMENDATIONS, _RECOMMENDATIONS.c.id == _EXECUTIONS.c.recommendation_id)
        .where(
            or_(
                _EXECUTIONS.c.state.in_(("pending", "running")),
                _EXECUTIONS.c.validation_state == "watching",
            )
        )
        .group_by(_RECOMMENDATIONS.c.runbook_id)
    )
    return {row.runbook_id: row.since for row in rows}


def _move_base(engine: Engine, stream: Stream, limit: datetime) -> OrderKey | None:
    """Make the newest checkpoint before ``limit`` the stream's base (dropping the older
    checkpoints); returns the base, up to which samples may go (None: nothing to prune)."""
    with session_scope(engine) as session:
        connection = session.connection()
        head = connection.execute(
            select(HEADS.c.base_at, HEADS.c.base_value).where(*stream.of(HEADS)).with_for_update()
        ).first()
        if head is None:
            return None
        base = (head.base_at, head.base_value) if head.base_at is not None else None
        newest = connection.execute(
            select(CHECKPOINTS.c.at, CHECKPOINTS.c.value)
            .where(*stream.of(CHECKPOINTS), CHECKPOINTS.c.at < limit)
            .order_by(CHECKPOINTS.c.at.desc(), CHECKPOINTS.c.value.desc())
            .limit(1)
        ).first()
        if newest is not None and (base is None or (newest.at, newest.value) > base):
            base = (newest.at, newest.value)
            connection.execute(
                update(HEADS).where(*stream.of(HEADS)).values(base_at=base[0], base_value=base[1])
            )
            connection.execute(
                delete(CHECKPOINTS)
                .where(*stream.of(CHECKPOINTS))
                .where(tuple_(CHECKPOINTS.c.at, CHECKPOINTS.c.value) < key_bound(base))
            )
        return base

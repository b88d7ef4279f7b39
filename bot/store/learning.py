"""Reading the trail for the learning loop: the events of a few kinds, in a time range, in
chain order, streamed (the journal, the process-health figures, post-mortems).

The query uses ``ix_trail_events_kind_at`` (migration ``0013_learning``) to read only the
events of the kinds asked for, joins the subjects index for each event's runbook, and is
streamed in batches (a server-side cursor on PostgreSQL), so memory does not grow with the
trail; what the caller keeps is its own business (the figures keep one number per interval).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.core.learning_events import LearningEvent
from bot.store.subjects import TrailSubject
from bot.store.tables import TrailEventRow
from bot.store.transitions import table_of

_EVENTS = table_of(TrailEventRow)
_SUBJECTS = table_of(TrailSubject)
BATCH = 5000


def stream_learning_events(
    connection: Connection,
    *,
    kinds: Collection[str],
    since: datetime | None = None,
    until: datetime | None = None,
    runbook_id: str | None = None,
    subject: str | None = None,
    after_seq: int = 0,
    stream: bool = True,
) -> Iterator[LearningEvent]:
    """The events of ``kinds`` at or after ``since`` (and before ``until``), of one runbook's
    subjects if given, after seq ``after_seq``, in chain order. ``stream=False`` inside a
    unit of work: the writer's pipelined PostgreSQL connection has no server-side cursors (the
    reads there are one subject's few events)."""
    statement = (
        select(
            _EVENTS.c.seq,
            _EVENTS.c.kind,
            _EVENTS.c.subject,
            _SUBJECTS.c.runbook_id,
            _EVENTS.c.actor,
            _EVENTS.c.actor_role,
            _EVENTS.c.at,
            _EVENTS.c.payload_json,
        )  # fmt: skip
        .select_from(_EVENTS.outerjoin(_SUBJECTS, _SUBJECTS.c.subject == _EVENTS.c.subject))
        .where(_EVENTS.c.kind.in_(sorted(kinds)))
        .order_by(_EVENTS.c.seq)
    )
    if after_seq:
        statement = statement.where(_EVENTS.c.seq > after_seq)
    if since is not None:
        statement = statement.where(_EVENTS.c.at >= since)
    if until is not None:
        statement = statement.where(_EVENTS.c.at < until)
    if runbook_id is not None:
        statement = statement.where(_SUBJECTS.c.runbook_id == runbook_id)
    if subject is not None:
        statement = statement.where(_EVENTS.c.subject == subject)
    # Per statement: Connection.execution_options would change the connection for later use.
    options = {"yield_per": BATCH} if stream else {}
    result = connection.execute(statement, execution_options=options)
    try:
        for seq, kind, subject_text, runbook, actor, role, at, payload in result:
            yield LearningEvent(
                seq=seq, kind=kind, subject=subject_text, runbook_id=runbook, actor=actor,
                actor_role=role, at=at, payload=json.loads(payload),
            )  # fmt: skip
    finally:
        result.close()

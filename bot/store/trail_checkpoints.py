"""Making the trail's checkpoints, and the record of those published.

``make_checkpoint`` verifies the events appended since the last checkpoint (links, hashes,
MACs, the head) and signs the head: its cost grows with the events since the last
checkpoint, not with the trail (only the first checkpoint verifies the whole chain). A trail
found broken is never signed. ``record_checkpoint`` keeps the published line in
``trail_checkpoints``, unique by seq, so that two replicas publish a position once; the copies
outside the database (``bot.services.trail.checkpoints``) are what verification trusts, the
row only says where the next checkpoint starts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.core.trail import format_time
from bot.core.trail_checkpoints import Checkpoint, parse_checkpoint
from bot.core.trail_verification import ChainVerifier
from bot.store.engine import read_connection
from bot.store.tables import TrailCheckpointRow
from bot.store.trail import feed_trail, read_trail_head_with_mac
from bot.store.trail_keys import CheckpointVerifier, TrailKey
from bot.store.transitions import connection_of, table_of

_CHECKPOINTS = table_of(TrailCheckpointRow)
# The newest rows looked at for the last valid checkpoint (a forged row is skipped).
_RECENT = 5


class TrailBrokenError(RuntimeError):
    """The trail failed verification: no checkpoint is signed over it."""


def latest_checkpoint(connection: Connection, verifier: CheckpointVerifier) -> Checkpoint | None:
    """The newest recorded checkpoint whose signature holds (rows are not trusted)."""
    rows = connection.execute(
        select(_CHECKPOINTS.c.line).order_by(_CHECKPOINTS.c.seq.desc()).limit(_RECENT)
    )
    for (line,) in rows:
        try:
            checkpoint = parse_checkpoint(str(line))
        except ValueError:
            continue
        if verifier.valid(checkpoint):
            return checkpoint
    return None


def make_checkpoint(engine: Engine, *, key: TrailKey, now: datetime) -> Checkpoint | None:
    """A signed checkpoint of the trail's head, or None when the head has not moved since
    the last one (or there is no trail yet). ``TrailBrokenError`` when verification fails."""
    with read_connection(engine) as connection:
        head, head_mac = read_trail_head_with_mac(connection)
        previous = latest_checkpoint(connection, key.verifier)
        if head[0] == 0 or (previous is not None and previous.seq >= head[0]):
            return None
        verifier = ChainVerifier(
            head=head,
            head_mac=head_mac,
            key=key.mac_key,
            start=None if previous is None else previous.anchor(),
        )
        feed_trail(connection, verifier, after=0 if previous is None else previous.seq)
    result = verifier.finish()
    if result.first_bad is not None:
        raise TrailBrokenError(f"trail broken at {result.first_bad.describe()}")
    unsigned = Checkpoint(head[0], head[1], format_time(now), result.keyed_since, key_id="")
    return key.sign(unsigned)


def record_checkpoint(db: Session | Connection, checkpoint: Checkpoint, *, now: datetime) -> bool:
    """Keep ``checkpoint`` as published; False when this position was recorded already."""
    connection = connection_of(db)
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(_CHECKPOINTS)
        .values(
            seq=checkpoint.seq,
            hash=checkpoint.hash,
            keyed_since=checkpoint.keyed_since,
            made_at=now,
            line=checkpoint.line(),
        )
        .on_conflict_do_nothing(index_elements=["seq"])
        .returning(_CHECKPOINTS.c.seq)
    )
    return connection.execute(statement).first() is not None

"""The trail in the database: serialized appends, streaming verification, per-subject export.

Appends are serialized so that concurrent writers (threads, processes, replicas) extend one
chain: on PostgreSQL by a row lock on the chain's head (an advisory lock before the first
event), on SQLite by the write lock that ``BEGIN IMMEDIATE`` takes (see ``bot.store.engine``).
Either is held until the caller's transaction ends, so append trail events late in a unit of
work.

The trail key (``use_trail_key``, set once on the engine by the composition root) seals each
event's MAC and the head's; an engine without one appends events without MACs, which a
keyed trail refuses to verify after its first keyed event (``check_trail_key`` makes
``serve`` refuse to start that way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.core.subjects import parse_subject
from bot.core.trail import (
    GENESIS_HASH,
    TrailEvent,
    TrailEventDraft,
    TrailRecord,
    format_time,
    head_mac,
    macs_equal,
)
from bot.core.trail_export import export_events
from bot.core.trail_verification import Anchor, ChainVerification, ChainVerifier
from bot.store.engine import SQLITE_BEGIN_OPTION, read_connection
from bot.store.pipeline import QUEUE
from bot.store.subjects import note_appended
from bot.store.tables import TrailEventRow, TrailHead
from bot.store.transitions import connection_of, table_of

# pg_advisory_xact_lock key: any constant shared by every releasebot process.
TRAIL_LOCK_KEY = 0x7E1EA5EB07_7A11
_EVENTS = table_of(TrailEventRow)
_HEAD = table_of(TrailHead)
# Built once: executing a ready statement skips SQLAlchemy's per-call construction.
_INSERT_EVENT = insert(_EVENTS).inline()  # no RETURNING: the write can be queued
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
_READ_HEAD_MAC = select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.mac).where(_HEAD.c.id == 1)
_LOCK_HEAD = _READ_HEAD.with_for_update()
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(
        seq=bindparam("head_seq"),
        hash=bindparam("head_hash"),
        updated_at=bindparam("head_at"),
        mac=bindparam("head_mac"),
    )
)
_COLUMNS = (
    "seq, kind, actor, actor_role, subject, channel_id, thread_ts, message_ts, "
    "permalink, payload_json, {at}, prev_hash, hash, mac"
)
TRAIL_KEY = "_releasebot_trail_key"
# The canonical time text is produced by the database, so verification handles plain tuples.
_AT_SQL = {
    "sqlite": "replace(at, ' ', 'T') || 'Z'",
    "postgresql": "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
}


class UnknownSubjectError(LookupError):
    """No trail event has this subject."""


def use_trail_key(engine: Engine, key: bytes | None) -> None:
    """Seal the events (and head) this engine appends with ``key`` (None: without MACs)."""
    setattr(engine, TRAIL_KEY, key)


def trail_key_of(engine: Engine) -> bytes | None:
    key: bytes | None = getattr(engine, TRAIL_KEY, None)
    return key


def check_trail_key(engine: Engine, key: bytes | None) -> str | None:
    """Why appending with ``key`` would break the trail, if it would: a keyed trail and no
    key, or a key other than the one it was sealed with (the head's MAC says which)."""
    with read_connection(engine) as connection:
        row = connection.execute(_READ_HEAD_MAC).first()
    if row is None or row.mac is None:
        return None
    if key is None:
        return (
            "the trail's events are sealed with a key (they carry MACs) but no trail key is "
            "set: set RELEASEBOT_TRAIL_KEY or RELEASEBOT_TRAIL_KEY_FILE"
        )
    if not macs_equal(row.mac, head_mac(key, int(row.seq), str(row.hash))):
        return "the trail key set is not the key the trail was sealed with"
    return None


def append_trail_event(
    db: Session | Connection,
    *,
    kind: str,
    actor: str,
    subject: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
    actor_role: str | None = None,
    channel_id: str | None = None,
    thread_ts: str | None = None,
    message_ts: str | None = None,
    permalink: str | None = None,
) -> TrailEvent:
    """Append one event inside the caller's transaction; it commits (or not) with the rest."""
    draft = TrailEventDraft(
        kind=kind,
        actor=actor,
        actor_role=actor_role,
        subject=subject,
        channel_id=channel_id,
        thread_ts=thread_ts,
        message_ts=message_ts,
        permalink=permalink,
        payload=payload or {},
        at=at,
    )
    return append_trail_events(connection_of(db), [draft])[0]


def append_trail_events(
    connection: Connection, drafts: Sequence[TrailEventDraft]
) -> list[TrailEvent]:
    """Append events in order inside the caller's transaction; the sealed events."""
    return [TrailEvent.from_record(record) for record in append_trail_records(connection, drafts)]


def append_trail_records(
    connection: Connection, drafts: Sequence[TrailEventDraft]
) -> list[TrailRecord]:
    """Append events in order inside the caller's transaction: the chain lock and the head are
    taken once, the rows inserted in one statement, the head moved once. The sealed records
    (no ``TrailEvent`` is built: this is the path of every click)."""
    if not drafts:
        return []
    key = trail_key_of(connection.engine)
    head = _lock_trail(connection)
    seq, prev_hash = head if head is not None else _last_event(connection) or (0, GENESIS_HASH)
    records: list[TrailRecord] = []
    rows: list[dict[str, Any]] = []
    for draft in drafts:
        seq += 1
        record = draft.seal_record(seq=seq, prev_hash=prev_hash, key=key)
        records.append(record)
        rows.append(_row_values(record, draft.at))
        prev_hash = record.hash
    connection.execute(_INSERT_EVENT, rows, execution_options=QUEUE)
    note_appended(connection, drafts, records)  # the subjects index, in the same transaction
    last_at = drafts[-1].at
    mac = None if key is None else head_mac(key, seq, prev_hash)
    if head is None:
        connection.execute(
            insert(_HEAD).values(id=1, seq=seq, hash=prev_hash, updated_at=last_at, mac=mac)
        )
    else:
        connection.execute(
            _MOVE_HEAD,
            {"head_seq": seq, "head_hash": prev_hash, "head_at": last_at, "head_mac": mac},
            execution_options=QUEUE,
        )
    return records


def event_row_values(event: TrailEvent) -> dict[str, Any]:
    """The column values of a sealed event (also used by bulk loaders such as the benchmark)."""
    return _row_values(event.record(), event.at)


def _row_values(record: TrailRecord, at: datetime) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "kind": record.kind,
        "actor": record.actor,
        "actor_role": record.actor_role,
        "subject": record.subject,
        "channel_id": record.channel_id,
        "thread_ts": record.thread_ts,
        "message_ts": record.message_ts,
        "permalink": record.permalink,
        "payload_json": record.payload_json,
        "at": at,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "mac": record.mac,
    }


def _lock_trail(connection: Connection) -> tuple[int, str] | None:
    """Take the chain for this transaction; the head as it is now (None before the first).

    PostgreSQL: the head row, ``SELECT ... FOR UPDATE`` (lock and read in one round trip;
    a waiter reads the head its predecessor committed). Before the first event there is no
    head row to lock, so a transaction-scoped advisory lock serializes the first appends.
    SQLite: the transaction began with ``BEGIN IMMEDIATE``, so this connection is the only
    writer already.
    """
    if connection.dialect.name == "postgresql":
        row = connection.execute(_LOCK_HEAD).first()
        if row is not None:
            return int(row[0]), str(row[1])
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({TRAIL_LOCK_KEY})")
        # Another first appender may have committed the head meanwhile: lock it too.
        row = connection.execute(_LOCK_HEAD).first()
        return None if row is None else (int(row[0]), str(row[1]))
    if connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE") == "DEFERRED":
        raise RuntimeError("trail appends need a write transaction (BEGIN IMMEDIATE)")
    return read_trail_head(connection)


def read_trail_head(connection: Connection) -> tuple[int, str] | None:
    row = connection.execute(_READ_HEAD).first()
    return None if row is None else (int(row[0]), str(row[1]))


def _last_event(connection: Connection) -> tuple[int, str] | None:
    row = connection.execute(
        select(_EVENTS.c.seq, _EVENTS.c.hash).order_by(_EVENTS.c.seq.desc()).limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def verify_trail(
    engine: Engine,
    *,
    key: bytes | None = None,
    anchors: Sequence[Anchor] = (),
    progress: Callable[[int], None] | None = None,
    progress_every: int = 100_000,
    batch_size: int = 10_000,
) -> ChainVerification:
    """Re-compute the whole chain from one snapshot, streaming rows in seq order; with
    ``key``, every MAC too; with ``anchors``, check it passes through each checkpoint.
    ``progress(count)`` is called about every ``progress_every`` events."""
    with read_connection(engine) as connection:
        head, mac = read_trail_head_with_mac(connection)
        verifier = ChainVerifier(head=head, head_mac=mac, key=key, anchors=anchors)
        feed_trail(
            connection, verifier, progress=progress, progress_every=progress_every,
            batch_size=batch_size,
        )  # fmt: skip
    return verifier.finish()


def read_trail_head_with_mac(connection: Connection) -> tuple[tuple[int, str], str | None]:
    """The head's position ((0, GENESIS_HASH) before the first event) and its MAC."""
    row = connection.execute(_READ_HEAD_MAC).first()
    if row is None:
        return (0, GENESIS_HASH), None
    return (int(row[0]), str(row[1])), row[2]


def feed_trail(
    connection: Connection,
    verifier: ChainVerifier,
    *,
    after: int = 0,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 100_000,
    batch_size: int = 10_000,
) -> None:
    """Feed ``verifier`` the events after seq ``after``, in order, until one is bad.

    Rows are read as plain tuples from a server-side cursor (PostgreSQL) or SQLite's own
    incremental cursor: memory stays flat however long the trail."""
    dialect = connection.dialect.name
    sql = (
        f"SELECT {_COLUMNS.format(at=_AT_SQL[dialect])} FROM trail_events "
        f"WHERE seq > {int(after)} ORDER BY seq"
    )
    dbapi_connection: Any = connection.connection.dbapi_connection
    if dialect == "postgresql":
        cursor = dbapi_connection.cursor(name="releasebot_trail_verify")
        cursor.itersize = batch_size
    else:
        cursor = dbapi_connection.cursor()
    next_report = progress_every
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch_size):
            intact = verifier.feed(rows)
            if progress is not None and verifier.count >= next_report:
                progress(verifier.count)
                next_report += progress_every
            if not intact:
                break
    finally:
        cursor.close()


def trail_for_subject(db: Session | Connection, *, subject: str) -> list[TrailEvent]:
    """Every event of one subject, in chain order."""
    rows = connection_of(db).execute(
        select(_EVENTS).where(_EVENTS.c.subject == subject).order_by(_EVENTS.c.seq)
    )
    return [
        TrailEvent.from_record(
            (
                row.seq,
                row.kind,
                row.actor,
                row.actor_role,
                row.subject,
                row.channel_id,
                row.thread_ts,
                row.message_ts,
                row.permalink,
                row.payload_json,
                format_time(row.at),
                row.prev_hash,
                row.hash,
                row.mac,
            )
        )
        for row in rows
    ]


def export_subject(engine: Engine, *, subject: str, fmt: Literal["md", "json"]) -> str:
    """The story of one release, rollback or drill; ``ValueError`` for a malformed subject,
    ``UnknownSubjectError`` when it has no events."""
    subject = str(parse_subject(subject))
    with read_connection(engine) as connection:
        events = trail_for_subject(connection, subject=subject)
    if not events:
        raise UnknownSubjectError(f"no trail events for subject {subject!r}")
    return export_events(events, subject=subject, fmt=fmt)

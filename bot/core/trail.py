"""The decision trail: events, their canonical form, the hash chain and its keyed MACs.

Pure (standard library and pydantic only; times are passed in). An event's hash is
``sha256(prev_hash + canonical_json(event without "hash"))``: canonical JSON has sorted keys,
compact separators, UTF-8 text (no ASCII escapes) and times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
The first event (seq 1) is chained to ``GENESIS_HASH``. Anyone can recompute the hashes, so
the chain alone shows accidents and clumsy edits, not an editor who re-seals after an edit.

With a trail key (kept outside the database), each event also carries a MAC,
``HMAC-SHA256(key, "releasebot-trail-event:" + hash)`` (``event_mac``), and the trail head
one over its position (``head_mac``): without the key nobody can append, edit and re-seal, or
move the head. Events sealed before a key was set have no MAC (hash scheme 1); once one event
has a MAC every later one must (scheme 2). Verification (``bot.core.trail_verification``)
works on plain ``TrailRecord`` tuples so that it streams fast; exports are in
``bot.core.trail_export``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.subjects import parse_subject

GENESIS_HASH = "0" * 64
ACTOR_BOT = "releasebot"
ACTOR_SYSTEM = "system"
_EVENT_MAC = b"releasebot-trail-event:"
_HEAD_MAC = "releasebot-trail-head:{seq}:{hash}"


# --- canonical form and hashing -------------------------------------------------------------


def format_time(at: datetime) -> str:
    """The canonical time text: UTC, microseconds, ``Z`` (fixed width, sorts as text)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("trail times must be timezone-aware")
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable in a trail payload")


_SEPARATORS = (",", ":")
_encode_sorted = json.JSONEncoder(
    ensure_ascii=False,
    separators=_SEPARATORS,
    sort_keys=True,
    allow_nan=False,
    default=_json_default,
).encode
# The header below is built with its keys already in sorted order, so no sorting is needed.
_encode_ordered = json.JSONEncoder(
    ensure_ascii=False, separators=_SEPARATORS, allow_nan=False
).encode
_PAYLOAD_SLOT = '"payload":0'


def canonical_json(value: Any) -> str:
    """Sorted keys, compact, UTF-8 text, no NaN; datetimes as canonical UTC text."""
    return _encode_sorted(value)


def record_hash(
    seq: int,
    kind: str,
    actor: str,
    actor_role: str | None,
    subject: str,
    channel_id: str | None,
    thread_ts: str | None,
    message_ts: str | None,
    permalink: str | None,
    payload_json: str,
    at: str,
    prev_hash: str,
) -> str:
    """The event hash, from the canonical payload text (so it is never parsed again).

    Equal to hashing ``canonical_json`` of the whole event document: the payload's JSON text is
    spliced into its slot (``"payload":0`` cannot occur inside an encoded string, whose quotes
    are escaped, so the first match is the key).
    """
    header = _encode_ordered(
        {
            "actor": actor,
            "actor_role": actor_role,
            "at": at,
            "channel_id": channel_id,
            "kind": kind,
            "message_ts": message_ts,
            "payload": 0,
            "permalink": permalink,
            "prev_hash": prev_hash,
            "seq": seq,
            "subject": subject,
            "thread_ts": thread_ts,
        }
    )
    text = header.replace(_PAYLOAD_SLOT, '"payload":' + payload_json, 1)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def event_mac(key: bytes, event_hash: str) -> str:
    """The event's MAC: only a holder of ``key`` can make it, anyone with it can check it."""
    return hmac.digest(key, _EVENT_MAC + event_hash.encode(), "sha256").hex()


def head_mac(key: bytes, seq: int, head_hash: str) -> str:
    """The trail head's MAC over its position: moving the head needs the key."""
    return hmac.digest(key, _HEAD_MAC.format(seq=seq, hash=head_hash).encode(), "sha256").hex()


def macs_equal(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given, expected)


class TrailRecord(NamedTuple):
    """An event as stored: payload as canonical JSON text, ``at`` as canonical time text;
    ``mac`` is None for an event sealed without a key."""

    seq: int
    kind: str
    actor: str
    actor_role: str | None
    subject: str
    channel_id: str | None
    thread_ts: str | None
    message_ts: str | None
    permalink: str | None
    payload_json: str
    at: str
    prev_hash: str
    hash: str
    mac: str | None = None


# --- events ---------------------------------------------------------------------------------


class TrailEventDraft(BaseModel):
    """What happened, before it takes its place in the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1, max_length=100)
    actor: str = Field(min_length=1, max_length=100)  # Slack user id, ACTOR_BOT or ACTOR_SYSTEM
    actor_role: str | None = None  # the role the actor held at that moment
    subject: str
    channel_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    permalink: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    at: datetime

    @field_validator("subject")
    @classmethod
    def _valid_subject(cls, value: str) -> str:
        return str(parse_subject(value))

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be timezone-aware")
        return value.astimezone(UTC)

    def seal(self, *, seq: int, prev_hash: str, key: bytes | None = None) -> TrailEvent:
        """Place the event after ``prev_hash`` at position ``seq`` and compute its hash (and
        its MAC, with ``key``)."""
        record = self.seal_record(seq=seq, prev_hash=prev_hash, key=key)
        fields = self.model_dump()
        fields["payload"] = json.loads(record.payload_json)  # payload exactly as it is hashed
        return TrailEvent(**fields, seq=seq, prev_hash=prev_hash, hash=record.hash, mac=record.mac)

    def seal_record(self, *, seq: int, prev_hash: str, key: bytes | None = None) -> TrailRecord:
        """``seal`` as the stored record, without building (and validating again) a
        ``TrailEvent``: what the writer of every click needs, at a third of the cost.
        The MAC (with ``key``) costs about a microsecond more."""
        fields = (
            seq,
            self.kind,
            self.actor,
            self.actor_role,
            self.subject,
            self.channel_id,
            self.thread_ts,
            self.message_ts,
            self.permalink,
            canonical_json(self.payload),
            format_time(self.at),
            prev_hash,
        )
        digest = record_hash(*fields)
        return TrailRecord(*fields, digest, None if key is None else event_mac(key, digest))


class TrailEvent(TrailEventDraft):
    """One link of the chain."""

    seq: int = Field(ge=1)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    mac: str | None = None

    def record(self) -> TrailRecord:
        return TrailRecord(
            self.seq,
            self.kind,
            self.actor,
            self.actor_role,
            self.subject,
            self.channel_id,
            self.thread_ts,
            self.message_ts,
            self.permalink,
            canonical_json(self.payload),
            format_time(self.at),
            self.prev_hash,
            self.hash,
            self.mac,
        )

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> TrailEvent:
        r = TrailRecord(*record)
        return cls(
            seq=r.seq,
            kind=r.kind,
            actor=r.actor,
            actor_role=r.actor_role,
            subject=r.subject,
            channel_id=r.channel_id,
            thread_ts=r.thread_ts,
            message_ts=r.message_ts,
            permalink=r.permalink,
            payload=json.loads(r.payload_json),
            at=datetime.fromisoformat(r.at),
            prev_hash=r.prev_hash,
            hash=r.hash,
            mac=r.mac,
        )

    def document(self) -> dict[str, Any]:
        """The hashed document: every field but ``hash`` and ``mac``, as canonical JSON
        values."""
        fields = self.model_dump(exclude={"hash", "mac"})
        fields["at"] = format_time(self.at)
        return fields

    def hash_matches(self) -> bool:
        return self.hash == record_hash(*self.record()[:12])

"""A chain of sealed trail events for the trail's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.trail import GENESIS_HASH, TrailEvent, TrailEventDraft

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
SUBJECTS = ["release:ranking-model:v2.4.0", "rollback:17", "drill:3"]


def build_chain(count: int, *, start: datetime = T0) -> list[TrailEvent]:
    events: list[TrailEvent] = []
    prev_hash = GENESIS_HASH
    for index in range(count):
        draft = TrailEventDraft(
            kind="approval.vote" if index % 2 else "rollback.recommended",
            actor=f"U{index:04d}",
            actor_role="oncall" if index % 3 else None,
            subject=SUBJECTS[index % len(SUBJECTS)],
            channel_id="C0RANKREL",
            thread_ts="1710408600.000100",
            message_ts=f"1710408600.{index:06d}",
            permalink=None,
            payload={"index": index, "reason": "error rate 3.1% > 2.5%", "nested": {"b": 1}},
            at=start + timedelta(seconds=index),
        )
        event = draft.seal(seq=index + 1, prev_hash=prev_hash)
        events.append(event)
        prev_hash = event.hash
    return events

"""Exporting one subject's trail: Markdown for people, JSON for machines."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.core.trail import GENESIS_HASH, TrailEventDraft
from bot.core.trail_export import export_json, export_markdown
from tests.core.trail_support import T0, build_chain


def test_markdown_export_tells_the_story_in_order() -> None:
    events = [
        TrailEventDraft(
            kind="rollback.recommended",
            actor="releasebot",
            subject="rollback:17",
            channel_id="C0RANKREL",
            message_ts="1710408600.000100",
            permalink="https://example.slack.com/archives/C0RANKREL/p1710408600000100",
            payload={"path": "flag-off", "score": 1.5},
            at=T0,
        ).seal(seq=1, prev_hash=GENESIS_HASH),
    ]
    events.append(
        TrailEventDraft(
            kind="approval.vote",
            actor="U0BOB",
            actor_role="oncall",
            subject="rollback:17",
            channel_id="C0RANKREL",
            thread_ts="1710408600.000100",
            payload={"decision": "approve", "note": "*ship it* <!channel> | [x](y)\nnext"},
            at=T0 + timedelta(minutes=2),
        ).seal(seq=2, prev_hash=events[0].hash)
    )

    text = export_markdown(events, subject="rollback:17")

    lines = text.splitlines()
    assert lines[0] == "# Decision trail: rollback:17"
    story = [line for line in lines if line.startswith("- ")]
    assert len(story) == 2
    assert "2025-03-14T09:30:00.000000Z" in story[0] and "rollback.recommended" in story[0]
    assert "[Slack](https://example.slack.com/archives/C0RANKREL/p1710408600000100)" in story[0]
    assert "path: flag-off" in story[0] and "score: 1.5" in story[0]
    assert "U0BOB (oncall)" in story[1] and "thread 1710408600.000100" in story[1]
    # typed text cannot add lines, links or markup
    assert "\\*ship it\\*" in story[1] and "\\<!channel\\>" in story[1]
    assert "\\[x\\](y)" in story[1] and "\\|" in story[1]


def test_json_export_carries_every_field_and_hash() -> None:
    events = build_chain(3)
    document = json.loads(export_json(events, subject="drill:3"))
    assert document["subject"] == "drill:3" and document["count"] == 3
    assert [item["seq"] for item in document["events"]] == [1, 2, 3]
    first = document["events"][0]
    assert first["hash"] == events[0].hash and first["hash_matches"] is True
    assert first["payload"] == events[0].payload
    assert first["at"] == "2025-03-14T09:30:00.000000Z"


def test_export_flags_an_event_whose_hash_does_not_match() -> None:
    event = build_chain(1)[0]
    tampered = event.model_copy(update={"payload": {"index": 99}})
    assert "WARNING" in export_markdown([tampered], subject="x")
    assert json.loads(export_json([tampered], subject="x"))["events"][0]["hash_matches"] is False

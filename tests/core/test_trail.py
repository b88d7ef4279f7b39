"""The trail's pure core: canonical form, hash chain, verification verdicts, export."""

from __future__ import annotations

import ast
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import bot.core.trail as trail_module
from bot.core.trail import (
    GENESIS_HASH,
    TrailEvent,
    TrailEventDraft,
    TrailRecord,
    canonical_json,
    format_time,
    record_hash,
)
from bot.core.trail_verification import ChainVerifier, verify_chain, verify_records
from tests.core.trail_support import T0, build_chain

# --- canonical form ---------------------------------------------------------------------------


def test_canonical_json_is_sorted_compact_utf8_with_z_times() -> None:
    value = {"b": "héllo", "a": [1, 2.5], "at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)}
    assert canonical_json(value) == '{"a":[1,2.5],"at":"2025-01-02T03:04:05.000000Z","b":"héllo"}'


def test_times_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_time(datetime(2025, 1, 2, 4, 4, 5, tzinfo=paris)) == "2025-01-02T03:04:05.000000Z"
    with pytest.raises(ValueError):
        format_time(datetime(2025, 1, 2))


def test_naive_event_time_is_refused() -> None:
    with pytest.raises(ValueError):
        TrailEventDraft(kind="k", actor="system", subject="drill:1", at=datetime(2025, 1, 1))


def test_non_json_payload_is_refused() -> None:
    draft = TrailEventDraft(
        kind="k", actor="system", subject="drill:1", at=T0, payload={"x": object()}
    )
    with pytest.raises(TypeError):
        draft.seal(seq=1, prev_hash=GENESIS_HASH)


def test_first_event_hash_is_sha256_of_genesis_and_canonical_document() -> None:
    event = build_chain(1)[0]
    assert event.prev_hash == "0" * 64
    expected = hashlib.sha256(
        (GENESIS_HASH + canonical_json(event.document())).encode()
    ).hexdigest()
    assert event.hash == expected
    assert "hash" not in event.document()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
optional_text = st.none() | st.text(max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    actor=st.text(min_size=1, max_size=20),
    kind=st.text(min_size=1, max_size=20),
    fields=st.tuples(optional_text, optional_text, optional_text, optional_text, optional_text),
)
def test_fast_hash_equals_hash_of_the_canonical_document(
    payload: dict[str, Any], actor: str, kind: str, fields: tuple[str | None, ...]
) -> None:
    """The verifier splices payload text into the header; that must be exactly canonical JSON."""
    role, channel, thread, message, permalink = fields
    draft = TrailEventDraft(
        kind=kind,
        actor=actor,
        actor_role=role,
        subject="rollback:1",
        channel_id=channel,
        thread_ts=thread,
        message_ts=message,
        permalink=permalink,
        payload=payload,
        at=T0,
    )
    event = draft.seal(seq=3, prev_hash="a" * 64)
    document_hash = hashlib.sha256(
        ("a" * 64 + canonical_json(event.document())).encode()
    ).hexdigest()
    assert event.hash == document_hash == record_hash(*event.record()[:12])
    # the writer's shortcut seals the very record the event stores
    assert draft.seal_record(seq=3, prev_hash="a" * 64) == event.record()


def test_events_round_trip_through_records() -> None:
    for event in build_chain(4):
        assert TrailEvent.from_record(event.record()) == event


# --- verification -----------------------------------------------------------------------------


def test_an_untouched_chain_is_intact() -> None:
    events = build_chain(30)
    result = verify_chain(events, head=(30, events[-1].hash))
    assert result.intact and result.first_bad is None
    assert (result.events, result.last_seq, result.last_hash) == (30, 30, events[-1].hash)


def test_an_empty_chain_is_intact() -> None:
    assert verify_chain([]).intact
    assert verify_chain([], head=(0, GENESIS_HASH)).intact


CONTENT_FIELDS = [
    "kind",
    "actor",
    "actor_role",
    "subject",
    "channel_id",
    "thread_ts",
    "message_ts",
    "permalink",
    "payload_json",
    "at",
    "prev_hash",
    "hash",
]


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_any_single_field_alteration_is_detected_at_that_event(size: int, data: Any) -> None:
    records = [event.record() for event in build_chain(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    field = data.draw(st.sampled_from(CONTENT_FIELDS), label="field")
    original = getattr(records[index], field)
    if field == "payload_json":
        new_value: Any = canonical_json(
            data.draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
        )
    elif field == "at":
        new_value = format_time(T0 + timedelta(microseconds=data.draw(st.integers(0, 10**9))))
    elif field in ("prev_hash", "hash"):
        new_value = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    elif field in ("kind", "actor", "subject"):
        new_value = data.draw(st.text(min_size=1, max_size=30))
    else:
        new_value = data.draw(optional_text)
    assume(new_value != original)
    records[index] = records[index]._replace(**{field: new_value})

    result = verify_records(records)

    assert not result.intact
    assert result.first_bad is not None
    assert result.first_bad.seq == index + 1
    assert result.first_bad.problem == "altered"
    assert result.events == index


def test_a_deleted_event_is_named_at_the_gap() -> None:
    records = [event.record() for event in build_chain(10)]
    del records[4]  # seq 5
    result = verify_records(records)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (6, "deleted")
    assert "seq 5 missing" in result.first_bad.detail
    assert result.events == 4


def test_deleting_the_first_events_is_detected() -> None:
    records = [event.record() for event in build_chain(5)][2:]
    result = verify_records(records)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (3, "deleted")
    assert "seq 1..2 missing" in result.first_bad.detail


def test_a_truncated_tail_is_detected_against_the_head() -> None:
    events = build_chain(10)
    result = verify_chain(events[:8], head=(10, events[-1].hash))
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (9, "deleted")
    assert result.events == 8


def test_a_deleted_and_renumbered_event_breaks_the_link() -> None:
    """Delete seq 5, then shift later events down and re-seal them with the old prev_hash."""
    events = build_chain(8)
    forged = events[5].model_copy(update={"seq": 5})
    forged = forged.model_copy(update={"hash": record_hash(*forged.record()[:12])})
    result = verify_chain([*events[:4], forged])
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (5, "deleted")


def test_a_deleted_event_with_the_rest_renumbered_is_found() -> None:
    records = [event.record() for event in build_chain(8)]
    renumbered = [record._replace(seq=record.seq - 1) for record in records[5:]]
    result = verify_records([*records[:4], *renumbered])
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (5, "deleted")
    assert "renumbered" in result.first_bad.detail


def test_a_prev_hash_rewritten_to_genesis_is_an_alteration() -> None:
    """Event 2 pointing at the genesis hash looks like 'event 1 was inserted'; it was not."""
    records = [event.record() for event in build_chain(4)]
    records[1] = records[1]._replace(prev_hash=GENESIS_HASH)
    result = verify_records(records)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (2, "altered")


def test_an_inserted_event_is_named_when_the_next_one_skips_it() -> None:
    """A forger puts a well-formed event between 4 and 5 and renumbers the rest."""
    records = [event.record() for event in build_chain(8)]
    forged_draft = TrailEventDraft(
        kind="approval.vote",
        actor="U0MALLORY",
        subject="rollback:17",
        payload={"decision": "approve"},
        at=T0,
    )
    forged = forged_draft.seal(seq=5, prev_hash=records[3].hash).record()
    renumbered = [record._replace(seq=record.seq + 1) for record in records[4:]]
    result = verify_records([*records[:4], forged, *renumbered])
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.kind) == (5, "approval.vote")
    assert result.first_bad.problem == "inserted"
    assert result.events == 4
    assert result.last_hash == records[3].hash


def test_a_duplicated_seq_is_an_insertion() -> None:
    records = [event.record() for event in build_chain(5)]
    result = verify_records([*records[:3], records[2], *records[3:]])
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (3, "inserted")


def test_an_event_appended_beyond_the_recorded_head_is_an_insertion() -> None:
    events = build_chain(6)
    result = verify_chain(events, head=(5, events[4].hash))
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (6, "inserted")


def test_a_rewritten_last_event_is_caught_by_the_head() -> None:
    events = build_chain(4)
    rewritten = events[3].model_copy(update={"payload": {"decision": "reject"}})
    rewritten = rewritten.model_copy(update={"hash": record_hash(*rewritten.record()[:12])})
    result = verify_chain([*events[:3], rewritten], head=(4, events[3].hash))
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (4, "altered")


def test_verifier_streams_over_batches() -> None:
    records = [event.record() for event in build_chain(25)]
    verifier = ChainVerifier(head=(25, records[-1].hash))
    for start in range(0, 25, 7):
        assert verifier.feed(iter(records[start : start + 7]))
    result = verifier.finish()
    assert result.intact and result.events == 25


def test_verifier_accepts_plain_tuples() -> None:
    records = [tuple(event.record()) for event in build_chain(5)]
    assert verify_records(records).intact
    assert isinstance(build_chain(1)[0].record(), TrailRecord)


# --- purity -----------------------------------------------------------------------------------


def test_core_trail_imports_only_the_standard_library_and_pydantic() -> None:
    """(and the core's own modules: ``bot.core.subjects``)"""
    tree = ast.parse(Path(trail_module.__file__).read_text())
    own = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot.")
    }
    assert own <= {"bot.core.subjects"}
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = {
        "__future__",
        "hashlib",
        "hmac",
        "json",
        "re",
        "collections",
        "dataclasses",
        "datetime",
        "enum",
        "typing",
        "pydantic",
    }
    assert imported - {"bot"} <= allowed

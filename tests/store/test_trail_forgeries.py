"""Forgeries by someone with database access, on SQLite and PostgreSQL: each is refused by
the database's guard while it stands, and found by `trail verify` once the forger lifts it,
with the trail key, or (for an auditor holding no secret) against signed checkpoints.

The forger knows the schema, the canonical form and the hash scheme (they are public); what
they lack is the trail key (kept outside the database) and the checkpoints already published
(outside it too).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError

from bot.commands import trail_checkpoint, trail_verify
from bot.config import Settings
from bot.core.trail import TrailEventDraft, format_time
from bot.core.trail_checkpoints import Checkpoint
from bot.core.trail_verification import ChainVerification
from bot.services.trail.checkpoints import publish_checkpoint
from bot.store import TrailEventRow, append_only, append_trail_event, session_scope, verify_trail
from bot.store.trail import check_trail_key, event_row_values, use_trail_key
from bot.store.trail_checkpoints import TrailBrokenError, make_checkpoint
from bot.store.trail_keys import TrailKey
from bot.store.transitions import table_of

SECRET = "0123456789abcdef0123456789abcdef-trail-key"
KEY = TrailKey.from_secret(SECRET)
ROLLBACK = "rollback:1"
EVENTS = table_of(TrailEventRow)


@pytest.fixture
def keyed(engine: Engine) -> Engine:
    use_trail_key(engine, KEY.mac_key)
    return engine


def append_many(engine: Engine, now: datetime, count: int, *, start: int = 0) -> None:
    for index in range(start, start + count):
        with session_scope(engine) as session:
            append_trail_event(
                session,
                kind="approval.vote",
                actor=f"U{index:03d}",
                actor_role="oncall",
                subject=ROLLBACK,
                at=now + timedelta(seconds=index),
                payload={"decision": "reject", "index": index},
            )


def lifted(engine: Engine, *statements: str, **params: Any) -> None:
    """As the forger: drop the guard (events and head), run ``statements``, put it back."""
    with engine.begin() as connection:
        append_only.uninstall(connection)
        append_only.uninstall_head_guard(connection)
        for statement in statements:
            connection.execute(text(statement), params)
        append_only.install(connection)
        append_only.install_head_guard(connection)


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(select(EVENTS).order_by(EVENTS.c.seq)).mappings()
        return [dict(row) for row in found]


def resealed(row: dict[str, Any], prev_hash: str, **changes: Any) -> dict[str, Any]:
    """The row re-sealed after ``prev_hash`` with ``changes``, as the public scheme says
    (the forger keeps the row's old MAC: they cannot make a new one)."""
    fields = {name: row[name] for name in TrailEventDraft.model_fields if name != "payload"}
    draft = TrailEventDraft(**{**fields, "payload": json.loads(row["payload_json"]), **changes})
    event = draft.seal(seq=row["seq"], prev_hash=prev_hash)
    return {**event_row_values(event), "mac": row["mac"]}


def move_head(engine: Engine, seq: int, head_hash: str, mac: str | None = "keep") -> None:
    sql = "UPDATE trail_head SET seq = :seq, hash = :hash"
    if mac != "keep":
        sql += ", mac = :mac"
    lifted(engine, sql, seq=seq, hash=head_hash, mac=mac)


def checkpoint_now(engine: Engine, now: datetime) -> Checkpoint:
    checkpoint = make_checkpoint(engine, key=KEY, now=now)
    assert checkpoint is not None
    return checkpoint


def found(result: ChainVerification) -> tuple[int, str]:
    assert result.first_bad is not None, "the forgery was not found"
    return result.first_bad.seq, result.first_bad.problem


# --- forgery 1: delete the last events and move the head back ---------------------------------


def test_the_guard_refuses_deleting_events_and_moving_the_head_back(
    keyed: Engine, now: datetime
) -> None:
    append_many(keyed, now, 10)
    for statement in (
        "DELETE FROM trail_events WHERE seq > 7",
        "UPDATE trail_head SET seq = 7",
        "DELETE FROM trail_head",
        "UPDATE trail_head SET seq = 11",  # forward, but to no event
    ):
        with pytest.raises(DBAPIError):
            with keyed.begin() as connection:
                connection.execute(text(statement))
    assert verify_trail(keyed, key=KEY.mac_key).intact


def test_a_truncated_trail_with_its_head_moved_back_is_found(keyed: Engine, now: datetime) -> None:
    append_many(keyed, now, 10)
    checkpoint = checkpoint_now(keyed, now)
    seventh = rows(keyed)[6]
    lifted(keyed, "DELETE FROM trail_events WHERE seq > 7")
    move_head(keyed, 7, seventh["hash"])
    assert verify_trail(keyed).intact, "without the key or a checkpoint it looks whole"
    assert found(verify_trail(keyed, key=KEY.mac_key)) == (7, "deleted")
    assert found(verify_trail(keyed, anchors=[checkpoint.anchor()])) == (8, "deleted")


def test_a_replayed_old_head_row_needs_a_checkpoint_to_be_found(
    keyed: Engine, now: datetime
) -> None:
    """The forger kept the head row of an earlier day (a backup): its MAC holds for seq 7."""
    append_many(keyed, now, 7)
    with keyed.connect() as connection:
        old_head = connection.execute(text("SELECT seq, hash, mac FROM trail_head")).one()
    append_many(keyed, now, 3, start=7)
    checkpoint = checkpoint_now(keyed, now)
    lifted(keyed, "DELETE FROM trail_events WHERE seq > 7")
    move_head(keyed, old_head.seq, old_head.hash, old_head.mac)
    assert verify_trail(keyed, key=KEY.mac_key).intact, "the known limit: see docs/reliability.md"
    assert found(verify_trail(keyed, anchors=[checkpoint.anchor()])) == (8, "deleted")


# --- forgery 2: lift the guard, edit an event, re-seal everything after it --------------------


def test_an_edited_and_resealed_trail_is_found(keyed: Engine, now: datetime) -> None:
    append_many(keyed, now, 10)
    checkpoint = checkpoint_now(keyed, now)
    before = rows(keyed)
    prev_hash = before[3]["hash"]
    forged = []
    for row in before[4:]:
        changes = {"payload": {"decision": "approve", "index": 4}} if row["seq"] == 5 else {}
        forged.append(resealed(row, prev_hash, **changes))
        prev_hash = forged[-1]["hash"]
    updates = [
        f"UPDATE trail_events SET payload_json = :p{r['seq']}, prev_hash = :v{r['seq']}, "
        f"hash = :h{r['seq']} WHERE seq = {r['seq']}"
        for r in forged
    ]
    params = {}
    for r in forged:
        params |= {f"p{r['seq']}": r["payload_json"], f"v{r['seq']}": r["prev_hash"],
                   f"h{r['seq']}": r["hash"]}  # fmt: skip
    lifted(keyed, *updates, **params)
    move_head(keyed, 10, prev_hash)
    assert verify_trail(keyed).intact, "the public chain is whole again"
    assert found(verify_trail(keyed, key=KEY.mac_key)) == (5, "altered")
    assert found(verify_trail(keyed, anchors=[checkpoint.anchor()])) == (10, "altered")
    with pytest.raises(TrailBrokenError, match="seq 5"):
        make_checkpoint(keyed, key=KEY, now=now)  # nothing is signed over it


# --- forgery 3: a forged approval appended by plain INSERT, the guard standing ----------------


def forged_vote(engine: Engine, now: datetime, *, mac: str | None) -> None:
    head = rows(engine)[-1]
    vote = TrailEventDraft(
        kind="approval.approve", actor="U0MALLORY", actor_role="oncall", subject=ROLLBACK,
        payload={"decision": "approve"}, at=now,
    ).seal(seq=head["seq"] + 1, prev_hash=head["hash"])  # fmt: skip
    with engine.begin() as connection:  # the guard allows INSERT, and moving the head forward
        connection.execute(insert(EVENTS).values(**{**event_row_values(vote), "mac": mac}))
        moved = {"seq": vote.seq, "hash": vote.hash}
        connection.execute(text("UPDATE trail_head SET seq = :seq, hash = :hash"), moved)


@pytest.mark.parametrize("mac", [None, "ab" * 32], ids=["without a MAC", "with a made-up MAC"])
def test_a_forged_approval_appended_with_the_guard_on_is_found(
    keyed: Engine, now: datetime, mac: str | None
) -> None:
    append_many(keyed, now, 5)
    forged_vote(keyed, now, mac=mac)
    assert found(verify_trail(keyed, key=KEY.mac_key)) == (6, "altered")
    if mac is None:  # a missing MAC after keyed events is found without the key, too
        assert found(verify_trail(keyed)) == (6, "altered")


# --- and others ----------------------------------------------------------------------------


def test_stripped_macs_are_found_by_anyone(keyed: Engine, now: datetime) -> None:
    append_many(keyed, now, 6)
    lifted(keyed, "UPDATE trail_events SET mac = NULL WHERE seq >= 4")
    assert found(verify_trail(keyed)) == (4, "altered")


def test_a_trail_stripped_of_every_mac_is_found_against_a_checkpoint(
    keyed: Engine, now: datetime
) -> None:
    append_many(keyed, now, 6)
    checkpoint = checkpoint_now(keyed, now)
    lifted(keyed, "UPDATE trail_events SET mac = NULL", "UPDATE trail_head SET mac = NULL")
    result = verify_trail(keyed, key=KEY.mac_key)
    assert result.intact and result.keyed_since is None, "it looks like a trail never keyed"
    assert found(verify_trail(keyed, anchors=[checkpoint.anchor()])) == (1, "altered")


def test_a_trail_resealed_with_another_key_is_found(keyed: Engine, now: datetime) -> None:
    append_many(keyed, now, 3)
    other = TrailKey.from_secret("another-key-of-at-least-32-characters!!")
    use_trail_key(keyed, other.mac_key)
    append_many(keyed, now, 2, start=3)
    assert found(verify_trail(keyed, key=KEY.mac_key)) == (4, "altered")


def test_a_forged_checkpoint_is_refused(
    keyed: Engine, database_url: str, now: datetime, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    append_many(keyed, now, 4)
    honest = checkpoint_now(keyed, now)
    other = TrailKey.from_secret("another-key-of-at-least-32-characters!!")
    forged = other.sign(Checkpoint(2, honest.hash, format_time(now), 1, ""))
    file = tmp_path / "checkpoints.jsonl"
    file.write_text(honest.line() + "\n" + forged.line() + "\n")
    args = argparse.Namespace(quiet=True, checkpoints=[str(file)], public_key=KEY.verifier.hex())
    assert trail_verify.run(args, Settings(database_url=database_url)) == 1
    assert "checkpoint REFUSED" in capsys.readouterr().out


def test_serve_refuses_to_append_to_a_keyed_trail_without_its_key(
    keyed: Engine, now: datetime
) -> None:
    append_many(keyed, now, 2)
    assert check_trail_key(keyed, KEY.mac_key) is None
    assert "no trail key is set" in (check_trail_key(keyed, None) or "")
    other = TrailKey.from_secret("another-key-of-at-least-32-characters!!")
    assert "not the key" in (check_trail_key(keyed, other.mac_key) or "")


def test_a_legacy_trail_keeps_verifying_and_is_keyed_from_then_on(
    engine: Engine, now: datetime
) -> None:
    append_many(engine, now, 3)  # before a key was set: no MACs (hash scheme 1)
    use_trail_key(engine, KEY.mac_key)
    append_many(engine, now, 3, start=3)
    result = verify_trail(engine, key=KEY.mac_key)
    assert result.intact and (result.keyed_since, result.unkeyed) == (4, 3)


# --- an auditor's round trip through the commands --------------------------------------------


def test_an_auditor_checks_published_checkpoints_with_the_public_key(
    keyed: Engine, database_url: str, now: datetime, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    file = tmp_path / "checkpoints.jsonl"
    operator = Settings(database_url=database_url, trail_key=SECRET, trail_checkpoint_file=file)
    assert trail_checkpoint.run(argparse.Namespace(trail_command="public-key"), operator) == 0
    public_key = capsys.readouterr().out.strip()
    for batch in range(3):
        append_many(keyed, now, 4, start=4 * batch)
        assert trail_checkpoint.run(argparse.Namespace(), operator) == 0
    assert trail_checkpoint.run(argparse.Namespace(), operator) == 0  # nothing new
    assert "has not moved" in capsys.readouterr().out
    assert len(file.read_text().splitlines()) == 3

    auditor = Settings(database_url=database_url)  # no secret
    args = argparse.Namespace(quiet=True, checkpoints=[str(file)], public_key=public_key)
    assert trail_verify.run(args, auditor) == 0
    assert "passes through 3 signed checkpoint(s)" in capsys.readouterr().out
    tenth = rows(keyed)[9]
    lifted(keyed, "DELETE FROM trail_events WHERE seq > 10")
    move_head(keyed, 10, tenth["hash"])
    assert trail_verify.run(args, auditor) == 1
    assert "seq 11: deleted: the chain ends at seq 10 but the checkpoint of" in (
        capsys.readouterr().out
    )


def test_publishing_twice_at_one_position_publishes_once(keyed: Engine, now: datetime) -> None:
    append_many(keyed, now, 2)
    first = publish_checkpoint(keyed, key=KEY, now=now, channel_id="C0TRAIL")
    assert first is not None and first.seq == 2
    assert publish_checkpoint(keyed, key=KEY, now=now, channel_id="C0TRAIL") is None

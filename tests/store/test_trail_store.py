"""The stored trail: appends keep one chain under concurrency; tampering is found; export."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from bot.commands import trail_export, trail_verify
from bot.config import Settings
from bot.core.subjects import release_subject
from bot.core.trail import TrailEventDraft, canonical_json
from bot.store import (
    TrailEventRow,
    UnknownSubjectError,
    append_only,
    append_trail_event,
    export_subject,
    read_connection,
    read_trail_head,
    session_scope,
    trail_for_subject,
    verify_trail,
)
from bot.store.trail import event_row_values
from bot.store.transitions import table_of

RELEASE = release_subject("ranking-model", "v2.4.0")
REPO_ROOT = Path(__file__).resolve().parents[2]


def append_many(engine: Engine, now: datetime, count: int, subjects: list[str]) -> None:
    for index in range(count):
        with session_scope(engine) as session:
            append_trail_event(
                session,
                kind="gate.marked",
                actor=f"U{index:03d}",
                actor_role="qa",
                subject=subjects[index % len(subjects)],
                at=now + timedelta(seconds=index),
                payload={"index": index, "gate": "offline-eval"},
                channel_id="C0RANKREL",
            )


def forge(engine: Engine, statement: str, **params: object) -> None:
    """Tamper as someone with database access would: lift the guard, change rows."""
    with engine.begin() as connection:
        append_only.uninstall(connection)
        connection.execute(text(statement), params)
        append_only.install(connection)


def test_appended_events_form_a_verifiable_chain(engine: Engine, now: datetime) -> None:
    with session_scope(engine) as session:
        first = append_trail_event(
            session,
            kind="release.started",
            actor="U0ALICE",
            actor_role="release_champion",
            subject=RELEASE,
            at=now,
            payload={"runbook_version": 3},
            channel_id="C0RANKREL",
            thread_ts="1.0",
            message_ts="1.0",
            permalink="https://example.slack.com/archives/C0RANKREL/p10",
        )
        second = append_trail_event(
            session,
            kind="gate.marked",
            actor="U0BOB",
            subject=RELEASE,
            at=now + timedelta(seconds=5),
            payload={"gate": "canary"},
        )
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    with read_connection(engine) as connection:
        assert read_trail_head(connection) == (2, second.hash)
        assert trail_for_subject(connection, subject=RELEASE) == [first, second]
    result = verify_trail(engine)
    assert result.intact and result.events == 2 and result.last_hash == second.hash


def test_an_empty_trail_verifies(engine: Engine) -> None:
    result = verify_trail(engine)
    assert result.intact and result.events == 0


def test_verify_reports_progress(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 25, [RELEASE])
    seen: list[int] = []
    result = verify_trail(engine, progress=seen.append, progress_every=10, batch_size=5)
    assert result.intact and result.events == 25
    assert seen == [10, 20]


def test_concurrent_appends_from_threads_keep_one_chain(engine: Engine, now: datetime) -> None:
    threads, per_thread = 8, 50
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        start.wait()
        for index in range(per_thread):
            with session_scope(engine) as session:
                append_trail_event(
                    session,
                    kind="metric.sample",
                    actor="system",
                    subject=f"drill:{worker}",
                    at=now,
                    payload={"worker": worker, "index": index},
                )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, range(threads)))

    result = verify_trail(engine)
    assert result.intact, result.first_bad
    assert result.events == threads * per_thread
    with engine.connect() as connection:
        seqs = [row[0] for row in connection.execute(text("SELECT seq FROM trail_events"))]
        per_worker = [
            [event.payload["index"] for event in trail_for_subject(connection, subject=subject)]
            for subject in (f"drill:{worker}" for worker in range(threads))
        ]
    assert sorted(seqs) == list(range(1, threads * per_thread + 1))
    assert all(indexes == list(range(per_thread)) for indexes in per_worker)


APPENDER = """
import sys
from datetime import UTC, datetime
from bot.store import append_trail_event, make_engine, session_scope
engine = make_engine(sys.argv[1])
for index in range(int(sys.argv[3])):
    with session_scope(engine) as session:
        append_trail_event(session, kind="metric.sample", actor="system",
                           subject="drill:" + sys.argv[2], at=datetime.now(UTC),
                           payload={"index": index})
"""


def test_concurrent_appends_from_processes_keep_one_chain(
    engine: Engine, database_url: str
) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, database_url, str(worker), "30"],
            env=environment,
            cwd=REPO_ROOT,
        )
        for worker in range(3)
    ]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0]
    result = verify_trail(engine)
    assert result.intact, result.first_bad
    assert result.events == 90


def test_an_updated_row_is_found_altered(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 10, [RELEASE, "rollback:1"])
    forge(
        engine,
        "UPDATE trail_events SET payload_json = :payload WHERE seq = 5",
        payload=canonical_json({"index": 4, "gate": "waived-by-nobody"}),
    )
    result = verify_trail(engine)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (5, "altered")
    assert (result.first_bad.kind, result.first_bad.subject) == ("gate.marked", RELEASE)
    assert result.events == 4


def test_an_updated_actor_is_found_altered(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 6, [RELEASE])
    forge(engine, "UPDATE trail_events SET actor = 'U0MALLORY' WHERE seq = 2")
    result = verify_trail(engine)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (2, "altered")


def test_a_deleted_row_is_found(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 10, [RELEASE])
    forge(engine, "DELETE FROM trail_events WHERE seq = 7")
    result = verify_trail(engine)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (8, "deleted")
    assert "seq 7 missing" in result.first_bad.detail


def test_a_deleted_last_row_is_found(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 5, [RELEASE])
    forge(engine, "DELETE FROM trail_events WHERE seq = 5")
    result = verify_trail(engine)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (5, "deleted")


def insert_forged(engine: Engine, *, seq: int, prev_hash: str, at: datetime) -> None:
    forged = TrailEventDraft(
        kind="approval.vote",
        actor="U0MALLORY",
        actor_role="oncall",
        subject="rollback:1",
        payload={"decision": "approve"},
        at=at,
    )
    event = forged.seal(seq=seq, prev_hash=prev_hash)
    with engine.begin() as connection:
        connection.execute(insert(table_of(TrailEventRow)).values(**event_row_values(event)))


def test_a_well_formed_row_inserted_mid_chain_is_found(engine: Engine, now: datetime) -> None:
    """The forger renumbers the later rows and chains a correct-looking vote after seq 4."""
    append_many(engine, now, 8, ["rollback:1"])
    forge(engine, "UPDATE trail_events SET seq = seq + 1000 WHERE seq > 4")
    forge(engine, "UPDATE trail_events SET seq = seq - 999 WHERE seq > 1000")
    with engine.connect() as connection:
        hash_4 = connection.execute(text("SELECT hash FROM trail_events WHERE seq = 4")).scalar()
    insert_forged(engine, seq=5, prev_hash=str(hash_4), at=now)
    result = verify_trail(engine)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (5, "inserted")
    assert result.first_bad.kind == "approval.vote"


def test_a_row_appended_behind_the_bots_back_is_found(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 3, ["rollback:1"])
    with read_connection(engine) as connection:
        head = read_trail_head(connection)
    assert head is not None
    insert_forged(engine, seq=4, prev_hash=head[1], at=now)
    result = verify_trail(engine)
    assert result.first_bad is not None
    assert (result.first_bad.seq, result.first_bad.problem) == (4, "inserted")


def test_export_tells_one_subjects_story_in_order(engine: Engine, now: datetime) -> None:
    append_many(engine, now, 12, [RELEASE, "rollback:1", "drill:1"])
    document = json.loads(export_subject(engine, subject="rollback:1", fmt="json"))
    assert [event["seq"] for event in document["events"]] == [2, 5, 8, 11]
    assert all(event["subject"] == "rollback:1" for event in document["events"])
    markdown = export_subject(engine, subject=RELEASE, fmt="md")
    story = [line for line in markdown.splitlines() if line.startswith("- ")]
    assert len(story) == 4
    assert ["U000" in story[0], "U003" in story[1], "U009" in story[3]] == [True, True, True]


def test_export_of_an_unknown_subject_is_an_error(engine: Engine) -> None:
    with pytest.raises(UnknownSubjectError):
        export_subject(engine, subject="rollback:404", fmt="md")
    with pytest.raises(ValueError, match="kind must be"):
        export_subject(engine, subject="deploy:1", fmt="md")


def test_trail_commands_verify_and_export(
    engine: Engine, database_url: str, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    append_many(engine, now, 4, [RELEASE])
    assert trail_verify.run(argparse.Namespace(quiet=True), settings) == 0
    assert capsys.readouterr().out.startswith("trail intact: 4 events verified in ")

    export_args = argparse.Namespace(subject=RELEASE, format="md")
    assert trail_export.run(export_args, settings) == 0
    assert capsys.readouterr().out.startswith(f"# Decision trail: {RELEASE}")
    unknown = argparse.Namespace(subject="drill:404", format="json")
    assert trail_export.run(unknown, settings) == 1
    assert "no trail events for subject 'drill:404'" in capsys.readouterr().err

    forge(engine, "UPDATE trail_events SET kind = 'gate.waived' WHERE seq = 3")
    assert trail_verify.run(argparse.Namespace(quiet=False), settings) == 1
    out = capsys.readouterr().out
    assert "seq 3 (kind gate.waived, subject release:ranking-model:v2.4.0): altered" in out

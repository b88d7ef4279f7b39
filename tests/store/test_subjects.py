"""The subjects index: kept as events are appended, rebuilt from the trail the same, paged by
key, filtered by runbook, kind, dates and search, and asked for near misses."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from bot.core.trail import GENESIS_HASH, TrailEventDraft
from bot.store import TrailEventRow, append_trail_event, read_connection, session_scope
from bot.store.engine import make_engine
from bot.store.migrate import upgrade_database
from bot.store.subjects import (
    SubjectFilter,
    list_subjects,
    rebuild_subjects,
    runbooks_in_index,
    similar_subjects,
    subject_summary,
)
from bot.store.trail import append_trail_events, event_row_values
from bot.store.transitions import connection_of, table_of


def event(engine: Engine, kind: str, subject: str, at: datetime, **payload: Any) -> None:
    with session_scope(engine) as session:
        append_trail_event(
            session, kind=kind, actor="releasebot", subject=subject, at=at, payload=payload
        )


def test_a_rollback_is_listed_with_its_runbook_status_and_outcome(
    engine: Engine, now: datetime
) -> None:
    event(engine, "rollback.recommended", "rollback:7", now, runbook="ranking-model")
    event(engine, "approval.approve", "rollback:7", now + timedelta(minutes=1))
    event(engine, "rollback.approved", "rollback:7", now + timedelta(minutes=2))
    with read_connection(engine) as connection:
        approved = subject_summary(connection, subject="rollback:7")
    assert approved is not None
    assert (approved.kind, approved.runbook_id, approved.name) == ("rollback", "ranking-model", "7")
    assert (approved.status, approved.outcome, approved.events) == ("approved", None, 3)
    event(
        engine, "rollback.executed", "rollback:7", now + timedelta(minutes=3), outcome="succeeded"
    )
    event(
        engine, "rollback.validated", "rollback:7", now + timedelta(minutes=9), outcome="recovered"
    )
    event(engine, "rollback.endorsed", "rollback:7", now + timedelta(minutes=10))
    with read_connection(engine) as connection:
        done = subject_summary(connection, subject="rollback:7")
    assert done is not None
    assert (done.status, done.outcome, done.events) == ("endorsed", "recovered", 6)
    assert done.first_at == now and done.last_at == now + timedelta(minutes=10)
    assert (done.first_seq, done.last_seq) == (1, 6)


def test_a_batch_of_events_counts_each_one(engine: Engine, now: datetime) -> None:
    drafts = [
        TrailEventDraft(
            kind=kind,
            actor="U0BRUNO",
            subject="release:fraud-model:v1.0.0",
            at=now + timedelta(seconds=i),
        )
        for i, kind in enumerate(["release.started", "gate.pass", "go_no_go.approved"])
    ]
    drafts.append(
        TrailEventDraft(
            kind="rollback.recommended",
            actor="releasebot",
            subject="rollback:1",
            at=now,
            payload={"runbook": "fraud-model"},
        )
    )
    with session_scope(engine) as session:
        append_trail_events(connection_of(session), drafts)
    with read_connection(engine) as connection:
        release = subject_summary(connection, subject="release:fraud-model:v1.0.0")
        assert runbooks_in_index(connection) == ["fraud-model"]
    assert release is not None
    assert (release.status, release.outcome, release.events, release.name) == (
        "go",
        "go",
        3,
        "v1.0.0",
    )


def test_the_index_rebuilt_from_the_trail_is_the_one_kept(engine: Engine, now: datetime) -> None:
    story = ["rollback.recommended", "approval.approve", "rollback.approved", "rollback.expired"]
    for index in range(30):
        at = now + timedelta(minutes=index)
        event(engine, "release.started", f"release:ranking-model:v1.{index % 4}.0", at)
        event(engine, story[index % 4], f"rollback:{index % 5}", at, runbook="ranking-model")
    with read_connection(engine) as connection:
        kept = list_subjects(connection, limit=100).subjects
    with engine.begin() as connection:
        assert rebuild_subjects(connection) == len(kept) == 9
    with read_connection(engine) as connection:
        assert list_subjects(connection, limit=100).subjects == kept


def test_pages_go_newest_first_and_back(engine: Engine, now: datetime) -> None:
    for index in range(12):
        event(engine, "release.started", f"release:ranking-model:v0.{index}.0", now)
    with read_connection(engine) as connection:
        first = list_subjects(connection, limit=5)
        assert [s.name for s in first.subjects] == [f"v0.{i}.0" for i in (11, 10, 9, 8, 7)]
        assert first.newer is None and first.older is not None
        second = list_subjects(connection, before=first.older, limit=5)
        assert [s.name for s in second.subjects] == [f"v0.{i}.0" for i in (6, 5, 4, 3, 2)]
        last = list_subjects(connection, before=second.older, limit=5)
        assert [s.name for s in last.subjects] == ["v0.1.0", "v0.0.0"] and last.older is None
        back = list_subjects(connection, after=second.newer, limit=5)
        assert back.subjects == first.subjects and back.newer is None
        middle = list_subjects(connection, after=last.newer, limit=5)
        assert middle.subjects == second.subjects and middle.newer is not None


def test_filters_narrow_the_list(engine: Engine, now: datetime) -> None:
    event(engine, "release.started", "release:ranking-model:v2.4.0", now)
    event(engine, "release.started", "release:fraud-model:v2.4.1", now + timedelta(days=2))
    event(
        engine,
        "rollback.recommended",
        "rollback:42",
        now + timedelta(days=3),
        runbook="fraud-model",
    )
    event(engine, "release.started", "release:fraud-model:v1_0%", now + timedelta(days=5))

    def names(**where: Any) -> list[str]:
        with read_connection(engine) as connection:
            page = list_subjects(connection, where=SubjectFilter(**where))
        return [s.subject for s in page.subjects]

    assert names(runbook_id="fraud-model") == [
        "release:fraud-model:v1_0%",
        "rollback:42",
        "release:fraud-model:v2.4.1",
    ]
    assert names(kind="rollback") == ["rollback:42"]
    assert names(search="2.4") == ["release:fraud-model:v2.4.1", "release:ranking-model:v2.4.0"]
    assert names(search="42") == ["rollback:42"]
    assert names(search="_0%") == ["release:fraud-model:v1_0%"]  # wildcards are plain text
    assert names(search="1_0") == ["release:fraud-model:v1_0%"]
    day = now.date()
    assert names(active_from=day + timedelta(days=1), active_to=day + timedelta(days=3)) == [
        "rollback:42",
        "release:fraud-model:v2.4.1",
    ]
    assert names(active_to=day - timedelta(days=1)) == []
    assert names(kind="drill") == []


def test_a_near_miss_finds_the_subject_meant(engine: Engine, now: datetime) -> None:
    event(engine, "release.started", "release:ranking-model:v2.4.0", now)
    event(engine, "release.started", "release:ranking-model:v2.5.0", now)
    event(engine, "rollback.recommended", "rollback:42", now, runbook="ranking-model")
    with read_connection(engine) as connection:
        close = similar_subjects(connection, typed="release:ranking-model:2.4.0")
        assert close[0] == "release:ranking-model:v2.4.0"
        assert similar_subjects(connection, typed="rollback:#42") == ["rollback:42"]
        assert similar_subjects(connection, typed="rollback:43") == []
        assert similar_subjects(connection, typed="drill:1") == []
        assert similar_subjects(connection, typed="release:rankng-model:v2.4.0")[0] == (
            "release:ranking-model:v2.4.0"
        )


def test_an_upgrade_builds_the_index_from_the_trail_already_there(
    database_url: str, now: datetime
) -> None:
    upgrade_database(database_url, revision="0006_integrity")
    sealed = TrailEventDraft(
        kind="rollback.recommended",
        actor="releasebot",
        subject="rollback:3",
        at=now,
        payload={"runbook": "fraud-model"},
    ).seal(seq=1, prev_hash=GENESIS_HASH)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:  # an event recorded before the index existed
            connection.execute(insert(table_of(TrailEventRow)), [event_row_values(sealed)])
        upgrade_database(database_url)
        with read_connection(engine) as connection:
            found = subject_summary(connection, subject="rollback:3")
        assert found is not None and (found.runbook_id, found.status) == ("fraud-model", "pending")
    finally:
        engine.dispose()


def test_dates_are_days_in_utc(engine: Engine) -> None:
    late = datetime.fromisoformat("2026-01-31T23:59:59+00:00")
    event(engine, "release.started", "release:ranking-model:v9.0.0", late)
    with read_connection(engine) as connection:
        where = SubjectFilter(active_from=date(2026, 1, 31), active_to=date(2026, 1, 31))
        assert len(list_subjects(connection, where=where).subjects) == 1
        where = SubjectFilter(active_from=date(2026, 2, 1))
        assert list_subjects(connection, where=where).subjects == []

"""Migrations create exactly the tables the code declares, and the trail is append-only."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import DBAPIError

from bot.commands import db_upgrade
from bot.config import Settings
from bot.store import append_trail_event, session_scope
from bot.store.migrate import (
    DatabaseNotInitialisedError,
    current_revision,
    head_revision,
    load_all_tables,
    open_initialised,
    upgrade_database,
)

REQUIRED_TABLES = {
    "releases",
    "readiness_reviews",
    "gate_states",
    "rollback_recommendations",
    "approval_requests",
    "approval_votes",
    "executions",
    "drill_runs",
    "trail_events",
    "trail_head",
}


def test_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    """Every table declared anywhere in bot.store is created by the migrations, exactly."""
    metadata = load_all_tables()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    tables = set(inspect(engine).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert tables >= REQUIRED_TABLES


def test_trail_events_have_a_unique_seq_and_a_subject_index(engine: Engine) -> None:
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("trail_events")["constrained_columns"] == ["seq"]
    indexes = {
        index["name"]: index["column_names"] for index in inspector.get_indexes("trail_events")
    }
    assert indexes["ix_trail_events_subject_seq"] == ["subject", "seq"]


def test_upgrade_is_idempotent_and_reports_what_it_did(database_url: str) -> None:
    first = upgrade_database(database_url)
    second = upgrade_database(database_url)
    assert (first.before, first.after) == (None, head_revision())
    assert first.changed and not second.changed


def test_db_upgrade_command_says_what_it_did(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    args = argparse.Namespace(revision="head")
    assert db_upgrade.run(args, settings) == 0
    assert f"upgraded from an empty database to {head_revision()}" in capsys.readouterr().out
    assert db_upgrade.run(args, settings) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert db_upgrade.run(argparse.Namespace(revision="nope"), settings) == 1
    assert "nope" in capsys.readouterr().err


def test_read_only_tools_refuse_an_uninitialised_database(database_url: str) -> None:
    with pytest.raises(DatabaseNotInitialisedError):
        open_initialised(database_url)
    upgrade_database(database_url)
    engine = open_initialised(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(DatabaseNotInitialisedError, match="no such database file"):
        open_initialised(f"sqlite:///{path}")
    assert not path.exists()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE trail_events SET kind = 'forged'", "DELETE FROM trail_events"],
)
def test_trail_events_refuse_updates_and_deletes(
    engine: Engine, now: datetime, statement: str
) -> None:
    with session_scope(engine) as session:
        append_trail_event(session, kind="drill.started", actor="system", subject="drill:1", at=now)
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT kind FROM trail_events").scalar_one() == (
            "drill.started"
        )

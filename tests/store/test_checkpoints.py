"""SQLite's WAL checkpoints run by a thread of their own, in the gaps between clicks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.store import make_engine, session_scope, upgrade_database
from bot.store.checkpoints import (
    BACKGROUND_AUTOCHECKPOINT_PAGES,
    WalCheckpointer,
    checkpoint,
    has_log,
)
from bot.store.outbox import enqueue_job

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'releasebot.db'}"
    upgrade_database(url)
    engine = make_engine(url, sqlite_autocheckpoint=BACKGROUND_AUTOCHECKPOINT_PAGES)
    yield engine
    engine.dispose()


def _write(engine: Engine, jobs: int = 50) -> None:
    for number in range(jobs):
        with session_scope(engine) as session:
            enqueue_job(session, kind="test", payload={"n": number, "pad": "x" * 500}, now=NOW)


def _pragma(engine: Engine, name: str) -> int:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA {name}")
        row = cursor.fetchone()
        cursor.close()
        return int(row[0])
    finally:
        connection.close()


def test_the_engine_of_serve_leaves_checkpoints_to_the_thread(sqlite_engine: Engine) -> None:
    assert _pragma(sqlite_engine, "wal_autocheckpoint") == BACKGROUND_AUTOCHECKPOINT_PAGES
    assert _pragma(make_engine(str(sqlite_engine.url)), "wal_autocheckpoint") == 1000


def test_a_passive_checkpoint_copies_the_whole_log_when_nobody_reads(
    sqlite_engine: Engine,
) -> None:
    _write(sqlite_engine)
    done = checkpoint(sqlite_engine)
    assert not done.busy
    assert done.log_frames > 0
    assert done.checkpointed_frames == done.log_frames


def test_only_a_sqlite_file_has_a_log(sqlite_engine: Engine) -> None:
    assert has_log(sqlite_engine)
    memory = make_engine("sqlite://")
    assert not has_log(memory)
    with pytest.raises(ValueError, match="SQLite file"):
        WalCheckpointer(memory)


def test_checkpoints_wait_while_clicks_arrive(sqlite_engine: Engine) -> None:
    clicking = threading.Event()
    clicking.set()
    checkpointer = WalCheckpointer(
        sqlite_engine, busy=clicking.is_set, every=0.01, max_defer=600.0
    ).start()
    try:
        _write(sqlite_engine)
        time.sleep(0.3)
        assert checkpointer.checkpoints == 0  # deferred: clicks keep arriving
        clicking.clear()
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > 0
        assert checkpointer.largest_log > 0
    finally:
        checkpointer.stop()


def test_a_checkpoint_deferred_too_long_runs_anyway(sqlite_engine: Engine) -> None:
    checkpointer = WalCheckpointer(
        sqlite_engine, busy=lambda: True, every=0.01, max_defer=0.1
    ).start()
    try:
        _write(sqlite_engine)
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > 0
    finally:
        checkpointer.stop()


def test_stopping_checkpoints_once_more(sqlite_engine: Engine) -> None:
    checkpointer = WalCheckpointer(sqlite_engine, every=600.0).start()
    _write(sqlite_engine)
    checkpointer.stop()
    assert checkpointer.checkpoints == 1
    assert checkpoint(sqlite_engine).log_frames == checkpointer.largest_log

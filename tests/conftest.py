"""Shared fixtures: one store contract, run on SQLite and (when configured) PostgreSQL.

- ``database_url``: an empty, isolated database. SQLite: a file in the test's tmp dir.
  PostgreSQL: a fresh schema per test (selected through ``search_path`` in the URL), dropped
  afterwards; only when ``RELEASEBOT_TEST_DATABASE_URL`` is set, otherwise skipped.
- ``engine``: an engine on that database with every migration applied.

Any test that takes ``engine`` or ``database_url`` therefore runs once per backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.store.engine import make_engine, normalise_database_url
from bot.store.migrate import upgrade_database

POSTGRES_URL_ENV = "RELEASEBOT_TEST_DATABASE_URL"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL for each test, for each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'releasebot.db'}"
        return
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        pytest.skip(f"PostgreSQL store tests need {POSTGRES_URL_ENV}")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(normalise_database_url(base_url)).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database, empty of rows."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def now() -> datetime:
    """A fixed, aware 'now' for tests that store times."""
    return datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

"""Schema migrations (Alembic, shipped inside the package; no alembic.ini needed).

The URL is handed to ``migrations/env.py`` programmatically, on an engine built by
``make_engine`` so that migrations run with the same SQLite pragmas and transaction handling
as the bot itself.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.store.engine import make_engine, normalise_database_url
from bot.store.timeouts import DEFAULT_TIMEOUTS

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def load_all_tables() -> MetaData:
    """Import every module of ``bot.store`` so that all its tables are on the metadata.

    Migrations (and the test that compares them to the code) then see a table wherever in
    the store it is declared.
    """
    for module in pkgutil.iter_modules([str(Path(__file__).parent)], "bot.store."):
        if not module.name.endswith(".migrations"):
            importlib.import_module(module.name)
    return SQLModel.metadata


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None  # revision before the upgrade (None: empty database)
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(database_url: str, revision: str = "head") -> UpgradeResult:
    """Apply migrations up to ``revision``; safe to run again (it then does nothing)."""
    engine = make_engine(database_url, timeouts=DEFAULT_TIMEOUTS.for_migrations())
    try:
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), revision)
        return UpgradeResult(before=before, after=current_revision(engine))
    finally:
        engine.dispose()


class DatabaseNotInitialisedError(RuntimeError):
    """The database has no releasebot schema yet (``releasebot db upgrade`` creates it)."""


def open_initialised(database_url: str) -> Engine:
    """An engine on an existing, migrated database, for read-only tools such as trail verify.

    Never creates anything: a missing SQLite file is reported rather than created empty.
    """
    url = make_url(normalise_database_url(database_url))
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():
            raise DatabaseNotInitialisedError(f"{shown}: no such database file")
    engine = make_engine(database_url)
    if current_revision(engine) is None:
        engine.dispose()
        raise DatabaseNotInitialisedError(f"{shown}: no releasebot schema")
    return engine

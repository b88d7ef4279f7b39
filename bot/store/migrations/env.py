"""Alembic environment: runs online only, on the engine passed in ``config.attributes``.

Offline (SQL script) mode is not supported: releasebot applies its migrations itself with
``releasebot db upgrade``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from bot.store.engine import make_engine
from bot.store.migrate import load_all_tables

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run migrations with bot.store.migrate.upgrade_database(url)")
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=load_all_tables(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()

"""Opening the database for the read-only trail commands: never created or migrated here."""

from __future__ import annotations

import sys

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.store.migrate import DatabaseNotInitialisedError, open_initialised


def open_trail_database(settings: Settings) -> Engine | None:
    """An engine on the migrated database, or None after saying why not (exit with 2)."""
    try:
        return open_initialised(settings.database_url)
    except DatabaseNotInitialisedError as error:
        print(f"releasebot: {error}; run `releasebot db upgrade` first", file=sys.stderr)
    except SQLAlchemyError as error:
        print(f"releasebot: cannot open the database: {error}", file=sys.stderr)
    return None

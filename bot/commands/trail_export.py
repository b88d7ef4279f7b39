"""``releasebot trail export SUBJECT [--format text|md|json]``: the story of one subject.

``text`` is a table for a terminal, and the default when printing to one; ``md`` otherwise.

Read-only, like ``trail verify``: an uninitialised database is an error (exit 2). A malformed
or unknown subject is an error too (exit 1).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.commands.terminal import print_trail
from bot.config import Settings
from bot.core.subjects import parse_subject
from bot.core.trail_export import export_events
from bot.store import read_connection, trail_for_subject
from bot.store.migrate import DatabaseNotInitialisedError, open_initialised
from bot.store.subjects import similar_subjects


def run(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format or ("text" if sys.stdout.isatty() else "md")
    try:
        engine = open_initialised(settings.database_url)
    except DatabaseNotInitialisedError as error:
        print(f"releasebot: {error}; run `releasebot db upgrade` first", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"releasebot: cannot open the database: {error}", file=sys.stderr)
        return 2
    try:
        subject = str(parse_subject(args.subject))
        with read_connection(engine) as connection:
            events = trail_for_subject(connection, subject=subject)
    except ValueError as error:
        message = error.args[0] if error.args else str(error)
        print(f"releasebot: trail export: {message}", file=sys.stderr)
        engine.dispose()
        return 1
    if not events:
        hint = did_you_mean(engine, subject)
        engine.dispose()
        print(
            f"releasebot: trail export: no trail events for subject {subject!r}{hint}",
            file=sys.stderr,
        )
        return 1
    engine.dispose()
    if fmt == "text":
        print_trail(events, subject=subject)
    else:
        sys.stdout.write(
            export_events(events, subject=subject, fmt="json" if fmt == "json" else "md")
        )
    return 0


def did_you_mean(engine: Engine, typed: str) -> str:
    """``"; did you mean ...?"`` naming known subjects close to ``typed``, or nothing."""
    with read_connection(engine) as connection:
        close = similar_subjects(connection, typed=typed)
    return f"; did you mean {' or '.join(close)}?" if close else ""

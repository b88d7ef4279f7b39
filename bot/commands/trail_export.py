"""``releasebot trail export SUBJECT --format md|json``: the story of one subject.

Read-only, like ``trail verify``: an uninitialised database is an error (exit 2). A malformed
or unknown subject is an error too (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.store.engine import read_connection
from bot.store.migrate import DatabaseNotInitialisedError, open_initialised
from bot.store.subjects import similar_subjects
from bot.store.trail import UnknownSubjectError, export_subject


def run(args: argparse.Namespace, settings: Settings) -> int:
    fmt: Literal["md", "json"] = "json" if args.format == "json" else "md"
    try:
        engine = open_initialised(settings.database_url)
    except DatabaseNotInitialisedError as error:
        print(f"releasebot: {error}; run `releasebot db upgrade` first", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"releasebot: cannot open the database: {error}", file=sys.stderr)
        return 2
    try:
        text = export_subject(engine, subject=args.subject, fmt=fmt)
    except (UnknownSubjectError, ValueError) as error:
        message = error.args[0] if error.args else str(error)
        if isinstance(error, UnknownSubjectError):
            message += did_you_mean(engine, args.subject)
        print(f"releasebot: trail export: {message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    sys.stdout.write(text)
    return 0


def did_you_mean(engine: Engine, typed: str) -> str:
    """``"; did you mean ...?"`` naming known subjects close to ``typed``, or nothing."""
    with read_connection(engine) as connection:
        close = similar_subjects(connection, typed=typed)
    return f"; did you mean {' or '.join(close)}?" if close else ""

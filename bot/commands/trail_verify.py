"""``releasebot trail verify``: re-compute the hash chain of the whole trail.

Read-only: it never migrates or creates the database; an uninitialised one is an error
(exit 2) that says to run ``releasebot db upgrade``. Exit 0 when intact, 1 at the first bad
event.
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.store.migrate import DatabaseNotInitialisedError, open_initialised
from bot.store.trail import verify_trail


def run(args: argparse.Namespace, settings: Settings) -> int:
    quiet = bool(getattr(args, "quiet", False))
    try:
        engine = open_initialised(settings.database_url)
    except DatabaseNotInitialisedError as error:
        print(f"releasebot: {error}; run `releasebot db upgrade` first", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"releasebot: cannot open the database: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(count: int) -> None:
        elapsed = time.perf_counter() - started
        print(f"  {count:,} events verified ({count / elapsed:,.0f}/s)", file=sys.stderr)

    try:
        result = verify_trail(engine, progress=None if quiet else progress)
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - started
    if result.first_bad is not None:
        print(f"trail BROKEN at {result.first_bad.describe()}")
        print(f"{result.events:,} events before it verified intact")
        return 1
    rate = result.events / elapsed if elapsed > 0 else 0.0
    print(
        f"trail intact: {result.events:,} events verified in {elapsed:.2f} s ({rate:,.0f} events/s)"
    )
    return 0

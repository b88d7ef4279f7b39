"""``releasebot journal [RUNBOOK] [--since DATE] [--format md|json]``: the rollback journal,
expected against actual outcome (``bot.core.journal``), read from the trail. Read-only."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time

from bot.commands.trail_database import open_trail_database
from bot.config import Settings
from bot.core.journal import JOURNAL_KINDS, build_journal
from bot.core.journal_format import journal_json, journal_markdown
from bot.store import read_connection
from bot.store.learning import stream_learning_events


def since_argument(text: str | None, command: str) -> datetime | None | str:
    """``--since`` as the start of that UTC day; an error message (str) when malformed."""
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    except ValueError:
        return f"releasebot: {command}: --since {text!r} is not a date (YYYY-MM-DD)"


def run(args: argparse.Namespace, settings: Settings) -> int:
    since = since_argument(args.since, "journal")
    if isinstance(since, str):
        print(since, file=sys.stderr)
        return 2
    engine = open_trail_database(settings)
    if engine is None:
        return 2
    try:
        with read_connection(engine) as connection:
            entries = build_journal(
                stream_learning_events(
                    connection, kinds=JOURNAL_KINDS, since=since, runbook_id=args.runbook
                )
            )
    finally:
        engine.dispose()
    print(journal_json(entries) if args.format == "json" else journal_markdown(entries))
    return 0

"""``releasebot trail list [--runbook ID] [--kind release|rollback|drill]``: the trail's subjects.

Read from the subjects index (``bot.store.subjects``), newest first, page by page, so the
first lines come at once however long the trail. Read-only, like the other trail commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import date

from sqlalchemy import Engine

from bot.commands.trail_database import open_trail_database
from bot.config import Settings
from bot.core.subject_index import SubjectSummary
from bot.core.trail import format_time
from bot.store import read_connection
from bot.store.subjects import SubjectFilter, list_subjects

COLUMNS = (
    "SUBJECT",
    "RUNBOOK",
    "STATUS",
    "OUTCOME",
    "FIRST EVENT (UTC)",
    "LAST EVENT (UTC)",
    "EVENTS",
)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        since = date.fromisoformat(args.since) if args.since else None
    except ValueError:
        print(f"releasebot: trail list: --since {args.since!r} is not a date (YYYY-MM-DD)",
              file=sys.stderr)  # fmt: skip
        return 2
    engine = open_trail_database(settings)
    if engine is None:
        return 2
    where = SubjectFilter(
        runbook_id=args.runbook, kind=args.kind, active_from=since, search=args.search
    )
    try:
        found = _subjects(engine, where, limit=args.limit)
        if args.format == "json":
            _print_json(found)
        else:
            _print_table(found)
    finally:
        engine.dispose()
    return 0


def _subjects(
    engine: Engine, where: SubjectFilter, *, limit: int | None
) -> Iterator[SubjectSummary]:
    before, shown = None, 0
    while True:
        with read_connection(engine) as connection:
            page = list_subjects(connection, where=where, before=before, limit=200)
        for summary in page.subjects:
            if limit is not None and shown >= limit:
                return
            shown += 1
            yield summary
        if page.older is None:
            return
        before = page.older


def _row(summary: SubjectSummary) -> tuple[str, ...]:
    return (
        summary.subject,
        summary.runbook_id or "-",
        summary.status or "-",
        summary.outcome or "-",
        format_time(summary.first_at)[:19],
        format_time(summary.last_at)[:19],
        str(summary.events),
    )


def _print_table(found: Iterator[SubjectSummary]) -> None:
    rows = [_row(summary) for summary in found]
    if not rows:
        print("no subjects in the trail match", file=sys.stderr)
        return
    widths = [max(len(text) for text in column) for column in zip(COLUMNS, *rows, strict=False)]
    for line in (COLUMNS, *rows):
        cells = (text.ljust(width) for text, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())


def _print_json(found: Iterator[SubjectSummary]) -> None:
    for summary in found:
        record = {
            "subject": summary.subject,
            "kind": summary.kind,
            "runbook": summary.runbook_id,
            "status": summary.status,
            "outcome": summary.outcome,
            "first_at": format_time(summary.first_at),
            "last_at": format_time(summary.last_at),
            "events": summary.events,
        }
        print(json.dumps(record, ensure_ascii=False))

"""``releasebot report [--since DATE] [--runbook ID] [--format md|json] [--explain FIGURE]``:
process-health figures computed from the trail (``bot.core.process_health``). Read-only.

The events are streamed by kind and time (``bot.store.learning``) and folded as they come,
so the report's memory holds one number per measured interval, never the trail.
"""

from __future__ import annotations

import argparse
import sys

from bot.commands.journal import since_argument
from bot.commands.trail_database import open_trail_database
from bot.config import Settings
from bot.core.process_health import FIGURES, HEALTH_KINDS, health_report
from bot.core.process_health_format import explain_lines, report_json, report_markdown
from bot.store import read_connection
from bot.store.learning import stream_learning_events


def run(args: argparse.Namespace, settings: Settings) -> int:
    since = since_argument(args.since, "report")
    if isinstance(since, str):
        print(since, file=sys.stderr)
        return 2
    if args.explain is not None and args.explain not in FIGURES:
        print(
            f"releasebot: report: no figure {args.explain!r}; figures: {', '.join(FIGURES)}",
            file=sys.stderr,
        )
        return 2
    engine = open_trail_database(settings)
    if engine is None:
        return 2
    try:
        with read_connection(engine) as connection:
            report = health_report(
                stream_learning_events(
                    connection, kinds=HEALTH_KINDS, since=since, runbook_id=args.runbook
                )
            )
    finally:
        engine.dispose()
    if args.explain is not None:
        print("\n".join(explain_lines(report, args.explain, args.runbook)))
    elif args.format == "json":
        print(report_json(report))
    else:
        print(report_markdown(report, since=since), end="")
    return 0

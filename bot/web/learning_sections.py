"""The ``/journal`` and ``/report`` pages' sections (``FigureSources``), read from the trail.

Both read a bounded window (the journal: approvals of the last 90 days; the report: the last
30 days and the 30 before), through the trail's (kind, at) index, so a page costs what that
window holds, not what the whole trail holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from markupsafe import Markup
from sqlalchemy import Engine

from bot.core.journal import JOURNAL_KINDS, build_journal
from bot.core.journal_format import actual_text, endorsed_text, expected_text
from bot.core.process_health import ALL, HEALTH_KINDS, HealthReport, health_report
from bot.core.process_health_format import comparison_rows
from bot.store import read_connection
from bot.store.learning import stream_learning_events
from bot.web.figure_series import journal_charts, report_charts
from bot.web.figures import FigureSources
from bot.web.html import make_html_environment

JOURNAL_DAYS = 90
REPORT_DAYS = 30


def learning_sources(engine: Engine, clock: Callable[[], datetime]) -> FigureSources:
    environment = make_html_environment()

    def journal() -> Markup:
        now = clock()
        since = now - timedelta(days=JOURNAL_DAYS)
        with read_connection(engine) as connection:
            entries = build_journal(
                stream_learning_events(connection, kinds=JOURNAL_KINDS, since=since)
            )
        charts = journal_charts(entries, since=since, now=now)
        entries.reverse()
        texts = [
            {"expected": expected_text(e), "actual": actual_text(e), "endorsed": endorsed_text(e)}
            for e in entries
        ]
        return Markup(  # noqa: S704 - rendered by the autoescaping environment
            environment.get_template("journal_section.html").render(
                entries=entries,
                texts=texts,
                days=JOURNAL_DAYS,
                since=f"{since:%Y-%m-%d}",
                charts=charts,
            )
        )

    def report() -> Markup:
        now = clock()
        current, previous = report_periods(engine, now=now, days=REPORT_DAYS)
        rows = comparison_rows(current, previous)
        drills = any(r.figure(ALL, "drills_started").count for r in (current, previous))
        shares = []
        for runbook in current.runbooks():
            share = current.recovered_share(runbook)
            if share is not None:
                shares.append((runbook, f"{share:.0%} of validated rollbacks recovered"))
        return Markup(  # noqa: S704 - rendered by the autoescaping environment
            environment.get_template("report_section.html").render(
                rows=rows,
                days=REPORT_DAYS,
                drills=drills,
                shares=shares,
                charts=report_charts(engine, now=now, days=REPORT_DAYS),
            )
        )

    return FigureSources(journal=journal, report=report)


def report_periods(
    engine: Engine, *, now: datetime, days: int
) -> tuple[HealthReport, HealthReport]:
    """The figures of the last ``days`` days and of the ``days`` before them."""
    period = timedelta(days=days)
    with read_connection(engine) as connection:
        current = health_report(
            stream_learning_events(connection, kinds=HEALTH_KINDS, since=now - period)
        )
        previous = health_report(
            stream_learning_events(
                connection, kinds=HEALTH_KINDS, since=now - 2 * period, until=now - period
            )
        )
    return current, previous

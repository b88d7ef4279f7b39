"""The figures of ``/report`` and ``/journal`` as points over time, for ``time_charts``.

``/report``: the process-health fold (``bot.core.process_health``) is fed the trail's events
of the two periods in chain order; each duration or drill score it measures is placed at the
time of the event that ended it (the event being fed when the fold emits it). ``/journal``:
each approved rollback's time from recommendation to approval and to a validated recovery,
placed at its approval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup
from sqlalchemy import Engine

from bot.core.journal import JournalEntry
from bot.core.learning_events import LearningEvent
from bot.core.process_health import (
    DESCRIPTIONS,
    DURATIONS,
    HEALTH_KINDS,
    VALUES,
    HealthFold,
    Observation,
)
from bot.store import read_connection
from bot.store.learning import stream_learning_events
from bot.web.time_charts import Point, Series, time_chart


@dataclass(frozen=True)
class Chart:
    series: Series
    svg: Markup


def health_series(events: Iterable[LearningEvent]) -> list[Series]:
    """The durations and drill scores of ``events`` (chain order) over time; only the figures
    with at least one point, in the report's order."""
    series = {
        name: Series(name, DESCRIPTIONS[name], seconds=name in DURATIONS)
        for name in DURATIONS + VALUES
    }
    feeding: list[LearningEvent] = []

    def place(observation: Observation) -> None:
        found = series.get(observation.figure)
        if found is not None and feeding:
            at = feeding[0].at
            found.points.append(Point(at, observation.value, observation.subject,
                                      observation.runbook))  # fmt: skip

    fold = HealthFold(place)
    for event in events:
        feeding[:] = [event]
        fold.feed(event)
    return [s for s in series.values() if s.points]


def report_charts(engine: Engine, *, now: datetime, days: int) -> list[Chart]:
    """One chart per figure measured in the last ``2 × days`` days, split at ``days`` ago."""
    start, split = now - timedelta(days=2 * days), now - timedelta(days=days)
    with read_connection(engine) as connection:
        series = health_series(stream_learning_events(connection, kinds=HEALTH_KINDS,
                                                      since=start))  # fmt: skip
    return [Chart(s, time_chart(s, start=start, end=now, periods=[split])) for s in series]


def journal_series(entries: Sequence[JournalEntry]) -> list[Series]:
    """Each entry's recommendation → approval and → validated recovery, at its approval."""
    approval = Series("approval", "breach detected (recommendation) → approved")
    recovery = Series("recovery", "breach detected (recommendation) → validated recovery")
    for entry in entries:
        if entry.approved_at is None or entry.recommended_at is None:
            continue
        runbook = entry.runbook_id or "?"
        waited = (entry.approved_at - entry.recommended_at).total_seconds()
        approval.points.append(Point(entry.approved_at, waited, entry.subject, runbook))
        actual = entry.actual
        if actual is not None and actual.recovered:
            took = (actual.validated_at - entry.recommended_at).total_seconds()
            recovery.points.append(Point(entry.approved_at, took, entry.subject, runbook))
    return [s for s in (approval, recovery) if s.points]


def journal_charts(
    entries: Sequence[JournalEntry], *, since: datetime, now: datetime
) -> list[Chart]:
    return [Chart(s, time_chart(s, start=since, end=now)) for s in journal_series(entries)]

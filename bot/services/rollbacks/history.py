"""What the trail of past rollbacks says: when the last one ran (for the cooldown) and how
each path fared (for the ranking)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.core.impact import PathRecord
from bot.core.rollbacks import ExecutionState
from bot.store.subjects import TrailSubject
from bot.store.tables import Execution, RollbackRecommendation, TrailEventRow
from bot.store.transitions import table_of


def _executions(session: Session, runbook_id: str) -> list[tuple[Execution, bool]]:
    rows = session.exec(
        select(Execution, RollbackRecommendation)
        .join(RollbackRecommendation, col(Execution.recommendation_id) == RollbackRecommendation.id)
        .where(RollbackRecommendation.runbook_id == runbook_id)
    ).all()
    return [(execution, rec.drill_run_id is not None) for execution, rec in rows]


def last_rollback_at(session: Session, *, runbook_id: str) -> datetime | None:
    """When the latest real rollback of this runbook finished executing successfully."""
    finished = [
        execution.finished_at
        for execution, drill in _executions(session, runbook_id)
        if not drill and execution.state == ExecutionState.SUCCEEDED
        and execution.finished_at is not None
    ]
    return max(finished, default=None)


@dataclass
class _Tally:
    uses: int = 0
    recovered: int = 0
    drill_uses: int = 0
    drill_recovered: int = 0
    minutes: list[float] = field(default_factory=list)

    def record(self, lesson: str | None) -> PathRecord:
        return PathRecord(
            lesson=lesson,
            uses=self.uses,
            recovered=self.recovered,
            median_minutes_to_recover=round(median(self.minutes), 1) if self.minutes else None,
            drill_uses=self.drill_uses,
            drill_recovered=self.drill_recovered,
        )


def path_records(session: Session, *, runbook_id: str) -> dict[str, PathRecord]:
    """Per path: real and drill uses that were validated, how many recovered, and the median
    minutes from execution to recovery of the real ones."""
    tallies: dict[str, _Tally] = {}
    for execution, drill in _executions(session, runbook_id):
        if execution.validation_state not in ("recovered", "not_recovered"):
            continue
        tally = tallies.setdefault(execution.path_id, _Tally())
        recovered = execution.validation_state == "recovered"
        if drill:
            tally.drill_uses += 1
            tally.drill_recovered += int(recovered)
            continue
        tally.uses += 1
        tally.recovered += int(recovered)
        minutes = execution.result.get("minutes_to_recover")
        if recovered and isinstance(minutes, int | float):
            tally.minutes.append(float(minutes))
    lessons = latest_lessons(session, runbook_id=runbook_id)
    return {path: tally.record(lessons.get(path)) for path, tally in tallies.items()}


LESSON_SCAN = 200  # post-mortem parts looked at, newest first


def latest_lessons(session: Session, *, runbook_id: str) -> dict[str, str]:
    """Per path, the latest lesson ("what to change") of this runbook's post-mortems: from
    the newest post-mortem events of its subjects (a few rows, through the kind index)."""
    events, subjects = table_of(TrailEventRow), table_of(TrailSubject)
    rows = session.connection().execute(
        sa_select(events.c.payload_json)
        .join(subjects, subjects.c.subject == events.c.subject)
        .where(
            events.c.kind.in_(("postmortem.written", "postmortem.added")),
            subjects.c.runbook_id == runbook_id,
        )
        .order_by(events.c.seq.desc())
        .limit(LESSON_SCAN)
    )
    lessons: dict[str, str] = {}
    for (payload_json,) in rows:
        payload = json.loads(payload_json)
        path, lesson = payload.get("path"), payload.get("what_to_change")
        if isinstance(path, str) and isinstance(lesson, str) and lesson:
            lessons.setdefault(path, lesson)
    return lessons

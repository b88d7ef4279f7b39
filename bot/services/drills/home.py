"""The App Home's drills: each runbook's recent runs and whether their scores improve."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.core.drills import trend
from bot.render.drill_contexts import HomeDrills
from bot.runbooks.registry import RunbookRegistry
from bot.services.context_parts import iso, runbook_ref
from bot.store.tables import DrillRun, row_id

RECENT_DRILLS = 5  # runs shown per runbook (a bounded read per runbook, whatever the history)


def home_drills(session: Session, runbooks: RunbookRegistry) -> list[HomeDrills]:
    entries: list[HomeDrills] = []
    for runbook in runbooks:
        if not runbook.drills:
            continue
        runs = session.exec(
            select(DrillRun)
            .where(DrillRun.runbook_id == runbook.id)
            .order_by(col(DrillRun.id).desc())
            .limit(RECENT_DRILLS)
        ).all()
        if not runs:
            continue
        scores = [int(r.results["score"]) for r in reversed(runs) if "score" in r.results]
        entries.append(
            {
                "runbook": runbook_ref(runbook),
                "runs": [
                    {
                        "drill_id": run.drill_id,
                        "run_id": str(row_id(run)),
                        "started_at": iso(run.started_at),
                        "outcome": str(run.results.get("outcome", run.state)),
                        "score": run.results.get("score"),
                    }
                    for run in runs
                ],
                "trend": trend(scores),
            }
        )
    return entries

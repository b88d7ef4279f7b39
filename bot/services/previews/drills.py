"""Sample contexts of the drill templates, drawn from a runbook's first drill.

Drills are not run yet (the runbook's ``drills`` are validated, nothing schedules them), so
there is no context builder for these templates to feed: these contexts are written out
here, in the shape ``bot.render.contexts`` gives. When drills are built, their builders
replace these, as the other templates' previews use theirs.
"""

from __future__ import annotations

from bot.core.durations import format_duration
from bot.core.runbook import Runbook
from bot.render.contexts import DrillRef, DrillReportContext, DrillStartContext
from bot.services.context_parts import iso, runbook_ref
from bot.services.previews.fixtures import SAMPLE_NOW, ago, people, recommended

DRILL_RUN_ID = "d-318"


def _drill_parts(runbook: Runbook) -> tuple[DrillRef, str, list[float], str, str | None]:
    if runbook.drills:
        drill = runbook.drills[0]
        scenario = drill.scenario
        return (
            {"id": drill.id, "title": drill.title},
            scenario.metric,
            list(scenario.values),
            format_duration(scenario.interval),
            drill.expected_path,
        )
    criterion = runbook.criteria[0]
    step = criterion.margin or abs(criterion.threshold) * 0.1 or 1.0
    sign = 1 if criterion.direction == "above" else -1
    values = [round(criterion.breach_point + sign * step * (i + 1) / 2, 6) for i in range(3)]
    drill_ref: DrillRef = {"id": "sample", "title": f"{criterion.metric} breach"}
    return drill_ref, criterion.metric, values, "1m", None


def drill_start(runbook: Runbook) -> DrillStartContext:
    drill, metric, values, interval, _ = _drill_parts(runbook)
    return {
        "runbook": runbook_ref(runbook),
        "drill_run_id": DRILL_RUN_ID,
        "drill": drill,
        "metric": metric,
        "scenario_values": values,
        "interval": interval,
        "started_at": iso(SAMPLE_NOW),
        "started_by": None,
    }


def drill_report(runbook: Runbook) -> DrillReportContext:
    drill, _, _, _, expected = _drill_parts(runbook)
    roles = list(runbook.roles)
    first = (people(runbook, roles[0]) or ["U0SOMEONE"])[0]
    second = (people(runbook, roles[-1]) or ["U0SOMEONE"])[0]
    return {
        "runbook": runbook_ref(runbook),
        "drill_run_id": DRILL_RUN_ID,
        "drill": drill,
        "started_at": iso(ago(20)),
        "acknowledged_by": first,
        "time_to_acknowledge_seconds": 72,
        "time_to_decision_seconds": 400,
        "chosen_path": expected or recommended(runbook).id,
        "expected_path": expected,
        "participants": [
            {"user": first, "roles": [roles[0]], "actions": ["acknowledged", "approved"]},
            {"user": second, "roles": [roles[-1]], "actions": ["approved"]},
        ],
        "notes": "Paging the on-call group took a minute; everything else went by the book.",
    }

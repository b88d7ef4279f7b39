"""Sample contexts of the drill templates, drawn from a runbook's first drill.

The start uses the drills' own builder; the report's facts are a sample run's, scored by the
core (``bot.core.drills.score``), since the report's builder reads a run's stored rows.
"""

from __future__ import annotations

from datetime import timedelta

from bot.core.drills import DrillFacts, score
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
        "timeout": "30m",
        "expected_path": runbook.drills[0].expected_path if runbook.drills else None,
    }


def drill_report(runbook: Runbook) -> DrillReportContext:
    drill, _, _, _, expected = _drill_parts(runbook)
    roles = list(runbook.roles)
    first = (people(runbook, roles[0]) or ["U0SOMEONE"])[0]
    second = (people(runbook, roles[-1]) or ["U0SOMEONE"])[0]
    chosen = expected or recommended(runbook).id
    facts = DrillFacts(
        timeout=timedelta(minutes=30), interval=timedelta(minutes=1), sustain_samples=3,
        sustain_duration=None, first_beyond_at=ago(20), detected_at=ago(18),
        recommended_path=chosen, expected_path=expected, first_click_at=ago(17),
        decided_at=ago(12), outcome="approved", approved_path=chosen, refusals=1,
        dry_run_validated=True,
    )
    result = score(facts)
    return {
        "runbook": runbook_ref(runbook),
        "drill_run_id": DRILL_RUN_ID,
        "drill": drill,
        "started_at": iso(ago(20)),
        "outcome": "approved",
        "outcome_text": "Decided: the path was approved",
        "detection": "recommended 2m after the first value beyond the margin "
        "(the criterion's sustain allows 3 samples at 1m)",
        "recommended_path": chosen,
        "escalated_to": [],
        "refusals": [{"user": "U0OUTSIDER", "why": "not in an approving role"}],
        "dry_run": "Drill: would have run the path's executor; nothing was run. Validated.",
        "score": result.total,
        "score_arithmetic": result.arithmetic,
        "score_parts": [
            {"name": p.name, "points": p.points, "out_of": p.out_of, "arithmetic": p.arithmetic}
            for p in result.parts
        ],
        "acknowledged_by": first,
        "time_to_acknowledge_seconds": 72,
        "time_to_decision_seconds": 400,
        "chosen_path": chosen,
        "expected_path": expected,
        "participants": [
            {"user": first, "roles": [roles[0]], "actions": ["acknowledged", "approved"]},
            {"user": second, "roles": [roles[-1]], "actions": ["approved"]},
        ],
        "notes": "Paging the on-call group took a minute; everything else went by the book.",
    }

"""Pieces of the sample contexts (see ``samples.py``), drawn from a runbook.

The samples are realistic rather than random: the runbook's own stages and gates, roles and
members, criteria (threshold, margin, sustain) and paths with their composite impact scores.
The time is fixed (``SAMPLE_NOW``) so that previews are reproducible.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.durations import format_duration
from bot.core.impact import PathRecord, Recommendation, recommend
from bot.core.runbook import ApprovalRule, Criterion, RollbackPath, Runbook

SAMPLE_NOW = datetime(2024, 4, 10, 13, 0, tzinfo=UTC)
REVIEW_ID = "r-1042"
REQUEST_ID = "q-2071"
DRILL_RUN_ID = "d-318"
RELEASE_VERSION = "v2.4.0"
GATE_STATUS_CYCLE = ("passed", "waived", "open", "failed")

def recommendation(runbook: Runbook, criterion: Criterion) -> Recommendation:
    """The core's proportionate recommendation for a breach of ``criterion`` alone."""
    result = recommend(runbook, severity=criterion.severity, breached_metrics=[criterion.metric])
    assert result is not None  # one metric is breached
    return result


def ago(minutes: float) -> datetime:
    return SAMPLE_NOW - timedelta(minutes=minutes)


def people(runbook: Runbook, role: str) -> list[str]:
    """Users who can act for ``role``: its user ids, or a stand-in member of its group."""
    members = runbook.roles.get(role, [])
    users = [member for member in members if member[0] in "UW"]
    return users or ([f"U0{role.upper().replace('_', '')}"] if members else [])


def runbook_ref(runbook: Runbook) -> dict[str, Any]:
    return {"id": runbook.id, "version": runbook.version, "title": runbook.title or runbook.id}


def approval(runbook: Runbook, rule: ApprovalRule) -> dict[str, Any]:
    return {
        "roles": dict(rule.roles),
        "quorum": rule.required_total,
        "role_members": {role: list(runbook.roles.get(role, [])) for role in rule.roles},
        "reject_blocks": rule.reject_blocks,
        "allow_self_approval": rule.allow_self_approval,
    }


def sustain(criterion: Criterion) -> str:
    if isinstance(criterion.sustain, int):
        return f"{criterion.sustain} samples"
    return f"for {format_duration(criterion.sustain)}"


def stages(runbook: Runbook) -> list[dict[str, Any]]:
    """The runbook's stages with gates in every status: passed, waived, open, failed."""
    rows: list[dict[str, Any]] = []
    index = 0
    for stage in runbook.readiness.stages if runbook.readiness else []:
        gates: list[dict[str, Any]] = []
        for gate in stage.gates:
            status = GATE_STATUS_CYCLE[index % len(GATE_STATUS_CYCLE)]
            index += 1
            marked = status != "open"
            owner = (people(runbook, gate.owner) or ["U0SOMEONE"])[0]
            gates.append(
                {
                    "id": gate.id,
                    "title": gate.title,
                    "owner_role": gate.owner,
                    "owner_members": list(runbook.roles.get(gate.owner, [])),
                    "status": status,
                    "marked_by": owner if marked else None,
                    "marked_at": ago(90 - 10 * index) if marked else None,
                    "reason": {
                        "waived": "Covered by last quarter's audit; nothing in this release "
                        "changes the features it looked at.",
                        "failed": "Two segments are outside the tolerance; see the report.",
                    }.get(status),
                    "evidence": gate.evidence,
                    "evidence_url": "https://reports.internal.example/r/1042" if marked else None,
                }
            )
        rows.append({"id": stage.id, "title": stage.title, "gates": gates})
    return rows


def counts(stage_rows: list[dict[str, Any]]) -> dict[str, int]:
    gates = [gate for stage in stage_rows for gate in stage["gates"]]
    return {s: sum(g["status"] == s for g in gates) for s in ("passed", "failed", "waived", "open")}


def go_no_go_rule(runbook: Runbook) -> ApprovalRule:
    if runbook.readiness:
        return runbook.readiness.go_no_go
    return runbook.paths[0].approval


def breached(runbook: Runbook) -> Criterion:
    """The criterion to show in breach: one whose best path may auto-execute, if any."""
    for criterion in runbook.criteria:
        best = recommendation(runbook, criterion)
        if best.adequate and best.path.auto_execute is not None:
            return criterion
    return runbook.criteria[0]


def recommended(runbook: Runbook) -> RollbackPath:
    return recommendation(runbook, breached(runbook)).path


def breach_values(criterion: Criterion, count: int) -> list[float]:
    step = criterion.margin or abs(criterion.threshold) * 0.1 or 1.0
    sign = 1 if criterion.direction == "above" else -1
    return [round(criterion.breach_point + sign * step * (i + 1) / 2, 6) for i in range(count)]


def criterion_view(criterion: Criterion, state: str) -> dict[str, Any]:
    values = {
        "breach": breach_values(criterion, 4),
        "clear": [criterion.clear_point],
        "insufficient_data": [],
    }[state]
    explanation = {
        "breach": f"{len(values)} consecutive samples beyond {criterion.breach_point:g}",
        "clear": f"latest sample inside {criterion.clear_point:g}",
        "insufficient_data": f"no sample in the last {format_duration(criterion.stale_after)}",
    }[state]
    return {
        "metric": criterion.metric,
        "direction": criterion.direction,
        "threshold": criterion.threshold,
        "margin": criterion.margin,
        "breach_point": criterion.breach_point,
        "clear_point": criterion.clear_point,
        "sustain": sustain(criterion),
        "state": state,
        "latest": values[-1] if values else None,
        "recent_values": values,
        "explanation": explanation,
    }


def record_dict(record: PathRecord | None) -> dict[str, Any] | None:
    return None if record is None else dataclasses.asdict(record)


def executor_target(executor: Any) -> str:
    if executor.type == "webhook":
        return str(executor.url)
    if executor.type == "command":
        return " ".join(executor.argv)
    return str(executor.note or "dry run")


def drill_parts(runbook: Runbook) -> tuple[dict[str, str], str, list[float], str, str | None]:
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
    values = breach_values(criterion, 3)
    return (
        {"id": "sample", "title": f"{criterion.metric} breach"},
        criterion.metric,
        values,
        "1m",
        None,
    )

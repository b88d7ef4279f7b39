"""Sample contexts for every template, drawn from a runbook: for ``releasebot preview``,
``releasebot check`` and the tests. ``sample_context(name, runbook)`` is the entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.core.durations import format_duration
from bot.core.impact import PathRecord
from bot.core.runbook import SEVERITY_ORDER, Runbook
from bot.render import sample_data as data
from bot.render.sample_data import (
    DRILL_RUN_ID,
    RELEASE_VERSION,
    REQUEST_ID,
    REVIEW_ID,
    SAMPLE_NOW,
    ago,
    example_runbook,
)


def readiness_checklist(runbook: Runbook) -> dict[str, Any]:
    return {
        "runbook": data.runbook_ref(runbook),
        "review_id": REVIEW_ID,
        "release_version": RELEASE_VERSION,
        "started_by": (runbook.owners or data.people(runbook, next(iter(runbook.roles))))[0],
        "started_at": ago(120),
        "stages": data.stages(runbook),
        "go_no_go": data.approval(runbook, data.go_no_go_rule(runbook)),
    }


def gate_update(runbook: Runbook) -> dict[str, Any]:
    stages = data.stages(runbook)
    marked = [(s, g) for s in stages for g in s["gates"] if g["status"] != "open"]
    stage, gate = (
        marked[-1]
        if marked
        else (
            {"title": "Readiness"},
            {
                "id": "gate",
                "title": "Gate",
                "owner_role": "oncall",
                "owner_members": [],
                "status": "failed",
                "marked_by": "U0SOMEONE",
                "marked_at": SAMPLE_NOW,
                "reason": "Not ready",
                "evidence": None,
                "evidence_url": None,
            },
        )
    )
    return {
        "runbook": data.runbook_ref(runbook),
        "review_id": REVIEW_ID,
        "release_version": RELEASE_VERSION,
        "stage_title": stage["title"],
        "gate": gate,
        "status": gate["status"],
        "actor": gate["marked_by"],
        "at": gate["marked_at"],
        "reason": gate["reason"],
        "counts": data.counts(stages),
    }


def go_no_go_request(runbook: Runbook) -> dict[str, Any]:
    stages = data.stages(runbook)
    exceptions = [
        {key: gate[key] for key in ("title", "status", "reason", "marked_by")}
        for stage in stages
        for gate in stage["gates"]
        if gate["status"] in ("failed", "waived")
    ]
    rule = data.go_no_go_rule(runbook)
    return {
        "runbook": data.runbook_ref(runbook),
        "review_id": REVIEW_ID,
        "request_id": REQUEST_ID,
        "release_version": RELEASE_VERSION,
        "requested_by": (runbook.owners or ["U0ALICE"])[0],
        "requested_at": ago(5),
        "expires_at": SAMPLE_NOW + rule.expires_after,
        "counts": data.counts(stages),
        "exceptions": exceptions,
        "approval": data.approval(runbook, rule),
    }


def rollback_recommendation(runbook: Runbook) -> dict[str, Any]:
    criterion = data.breached(runbook)
    result = data.recommendation(runbook, criterion)
    best = result.path
    states: list[dict[str, Any]] = []
    for other in runbook.criteria:
        if other is criterion:
            states.append(data.criterion_view(other, "breach"))
        else:
            missing = not states or states[-1]["state"] != "insufficient_data"
            states.append(data.criterion_view(other, "insufficient_data" if missing else "clear"))
    why = (
        f"The least disruptive path that covers severity {criterion.severity} and addresses "
        f"{criterion.metric}."
        if result.adequate
        else result.explanation.splitlines()[0]
    )
    auto = best.auto_execute
    auto_ok = (
        auto is not None
        and result.adequate
        and (SEVERITY_ORDER[criterion.severity] <= SEVERITY_ORDER[auto.max_severity])
    )
    record = PathRecord(
        uses=3, recovered=3, median_minutes_to_recover=6, drill_uses=2, drill_recovered=2
    )
    return {
        "runbook": data.runbook_ref(runbook),
        "request_id": REQUEST_ID,
        "drill": False,
        "severity": criterion.severity,
        "detected_at": ago(2),
        "requested_by": None,
        "criteria": states,
        "recommended": {
            "id": best.id,
            "title": best.title,
            "kind": best.kind,
            "covers": best.covers,
            "adequate": result.adequate,
            "score": result.score,
            "arithmetic": result.arithmetic,
            "reason": why,
            "track_record": data.record_dict(record),
        },
        "alternatives": [
            {
                "id": other.path.id,
                "title": other.path.title,
                "kind": other.path.kind,
                "covers": other.path.covers,
                "adequate": other.adequate,
                "score": other.score,
                "arithmetic": other.arithmetic,
                "reason": other.reason,
                "track_record": data.record_dict(other.record),
            }
            for other in result.alternatives
        ],
        "approval": data.approval(runbook, best.approval),
        "expires_at": SAMPLE_NOW + best.approval.expires_after,
        "decision": None,
        "auto_execute": {
            "at": SAMPLE_NOW + auto.veto_window,
            "minutes": round(auto.veto_window.total_seconds() / 60),
        }
        if auto is not None and auto_ok
        else None,
    }


def approval_state(runbook: Runbook) -> dict[str, Any]:
    path = data.recommended(runbook)
    rule = path.approval
    roles = [role for role, count in rule.roles.items() if count] or list(rule.roles)
    voter = data.people(runbook, roles[0])[0]
    missing = [{"role": role, "needed": rule.roles[role]} for role in roles[1:]]
    return {
        "runbook": data.runbook_ref(runbook),
        "request_id": REQUEST_ID,
        "kind": "rollback",
        "subject": f"Rollback of {runbook.id}: {path.title}",
        "trail_subject": "rollback:42",
        "state": "pending" if rule.required_total > 1 else "approved",
        "votes": [{"user": voter, "decision": "approve", "roles": [roles[0]], "at": ago(1)}],
        "ignored": [
            {
                "user": "U0MALLORY",
                "decision": "approve",
                "at": ago(1.5),
                "why": f"not a member of {', '.join(rule.roles)}",
            }
        ],
        "missing": missing,
        "still_needed": max(rule.required_total - 1, 0),
        "quorum": rule.required_total,
        "updated_at": SAMPLE_NOW,
    }


def execution_result(runbook: Runbook) -> dict[str, Any]:
    path = data.recommended(runbook)
    dry = path.executor.type == "dry-run"
    output = {
        "webhook": 'HTTP 200 {"status": "ok"}',
        "command": "rolled back to the previous version; 12/12 replicas ready",
        "dry-run": "dry run: nothing was changed",
    }[path.executor.type]
    return {
        "runbook": data.runbook_ref(runbook),
        "request_id": REQUEST_ID,
        "drill": False,
        "path": {"id": path.id, "title": path.title},
        "executor": {"type": path.executor.type, "target": data.executor_target(path.executor)},
        "outcome": "dry_run" if dry else "succeeded",
        "started_at": ago(1),
        "finished_at": ago(1) + timedelta(seconds=42.5),
        "duration_seconds": 42.5,
        "attempts": 1,
        "approved_by": [vote["user"] for vote in approval_state(runbook)["votes"]],
        "output_excerpt": output,
    }


def validation_result(runbook: Runbook) -> dict[str, Any]:
    path = data.recommended(runbook)
    validation = path.validation
    criterion = runbook.criterion(validation.metric) or runbook.criteria[0]
    step = (criterion.margin or abs(criterion.threshold) * 0.1 or 1.0) / 2
    sign = -1 if criterion.direction == "above" else 1
    values = [criterion.clear_point + sign * step * i for i in range(6)]
    minutes = validation.window.total_seconds() / 60
    return {
        "runbook": data.runbook_ref(runbook),
        "request_id": REQUEST_ID,
        "drill": False,
        "path": {"id": path.id, "title": path.title},
        "metric": validation.metric,
        "window": format_duration(validation.window),
        "direction": criterion.direction,
        "clear_point": criterion.clear_point,
        "outcome": "recovered",
        "samples": [
            {"at": ago(minutes * (6 - i) / 6), "value": round(v, 6)} for i, v in enumerate(values)
        ],
        "endorse_role": validation.endorse_role,
        "endorse_members": list(runbook.roles.get(validation.endorse_role, [])),
        "endorsed_by": None,
        "endorsed_at": None,
    }


def drill_start(runbook: Runbook) -> dict[str, Any]:
    drill, metric, values, interval, _ = data.drill_parts(runbook)
    return {
        "runbook": data.runbook_ref(runbook),
        "drill_run_id": DRILL_RUN_ID,
        "drill": drill,
        "metric": metric,
        "scenario_values": values,
        "interval": interval,
        "started_at": SAMPLE_NOW,
        "started_by": None,
    }


def drill_report(runbook: Runbook) -> dict[str, Any]:
    drill, _, _, _, expected = data.drill_parts(runbook)
    chosen = expected or data.recommended(runbook).id
    roles = list(runbook.roles)
    first = data.people(runbook, roles[0])[0]
    second = data.people(runbook, roles[-1])[0]
    return {
        "runbook": data.runbook_ref(runbook),
        "drill_run_id": DRILL_RUN_ID,
        "drill": drill,
        "started_at": ago(20),
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


def reason_modal(runbook: Runbook) -> dict[str, Any]:
    stages = data.stages(runbook)
    gate = next((g for s in stages for g in s["gates"]), {"id": "gate", "title": "Gate"})
    return {
        "action": "fail",
        "subject": gate["title"],
        "metadata": {"review_id": REVIEW_ID, "gate_id": gate["id"]},
    }


BUILDERS: dict[str, Callable[[Runbook], dict[str, Any]]] = {
    "readiness_checklist": readiness_checklist,
    "gate_update": gate_update,
    "go_no_go_request": go_no_go_request,
    "rollback_recommendation": rollback_recommendation,
    "approval_state": approval_state,
    "execution_result": execution_result,
    "validation_result": validation_result,
    "drill_start": drill_start,
    "drill_report": drill_report,
    "reason_modal": reason_modal,
}


def sample_context(name: str, runbook: Runbook) -> dict[str, Any]:
    """A realistic context for template ``name`` drawn from ``runbook``; KeyError if unknown."""
    try:
        build = BUILDERS[name]
    except KeyError:
        raise KeyError(f"no sample context for template {name!r}") from None
    return build(runbook)


__all__ = ["BUILDERS", "SAMPLE_NOW", "example_runbook", "sample_context"]


def app_home(runbook: Runbook) -> dict[str, Any]:
    """One person's App Home: their open gates, a go/no-go for them, releases, decisions."""
    stages = data.stages(runbook)
    ref = data.runbook_ref(runbook)
    channel_id = runbook.channels[0] if runbook.channels else None
    root = f"https://acme-ml.slack.com/archives/{channel_id}/p1712750400000100"
    request = f"{root}?thread_ts=1712750400.000100&cid={channel_id}"
    open_gates = [(s, g) for s in stages for g in s["gates"] if g["status"] == "open"]
    role = open_gates[0][1]["owner_role"] if open_gates else next(iter(runbook.roles))
    user = (data.people(runbook, role) or ["U0SOMEONE"])[0]
    rule = data.go_no_go_rule(runbook)
    groups = sorted({m for members in runbook.roles.values() for m in members if m[0] == "S"})
    where = {"permalink": root, "channel_id": channel_id}
    return {
        "user": user,
        "updated_at": SAMPLE_NOW,
        "unresolved_groups": groups[:1],
        "counts": {"gates": len(open_gates), "approvals": 1, "active": 2},
        "gates": [
            {
                "runbook": ref,
                "release_version": RELEASE_VERSION,
                "stage_title": stage["title"],
                "gate_id": gate["id"],
                "title": gate["title"],
                "owner_role": gate["owner_role"],
                "evidence": gate["evidence"],
                **where,
            }
            for stage, gate in open_gates
        ],
        "approvals": [
            {
                "runbook": ref,
                "release_version": "v2.3.2",
                "request_id": REQUEST_ID,
                "roles": sorted(rule.roles)[:1],
                "requested_by": (runbook.owners or ["U0ALICE"])[0],
                "requested_at": ago(30),
                "expires_at": SAMPLE_NOW + rule.expires_after,
                "still_needed": rule.required_total,
                "quorum": rule.required_total,
                "permalink": request,
                "channel_id": channel_id,
            }
        ],
        "active": [
            {
                "runbook": ref,
                "release_version": RELEASE_VERSION,
                "started_by": (runbook.owners or [user])[0],
                "started_at": ago(120),
                "counts": data.counts(stages),
                "go_no_go": None,
                **where,
            },
            {
                "runbook": ref,
                "release_version": "v2.3.2",
                "started_by": (runbook.owners or [user])[0],
                "started_at": ago(300),
                "counts": {"passed": 4, "failed": 0, "waived": 0, "open": 0},
                "go_no_go": "pending",
                "permalink": None,
                "channel_id": channel_id,
            },
        ],
        "recent": [
            {
                "runbook": ref,
                "release_version": "v2.3.1",
                "outcome": "go",
                "decided_at": ago(60 * 24 * 7),
                **where,
            },
            {
                "runbook": ref,
                "release_version": "v2.3.0",
                "outcome": "no_go",
                "decided_at": ago(60 * 24 * 14),
                "permalink": None,
                "channel_id": channel_id,
            },
        ],
    }


BUILDERS["app_home"] = app_home

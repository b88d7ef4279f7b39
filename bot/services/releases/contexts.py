"""The contexts of a readiness review's messages: the checklist, a gate's update, the
go/no-go request (their shapes: ``bot.render.contexts``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bot.core.gate_checks import CheckResult
from bot.core.releases import GateStatus
from bot.core.runbook import Runbook
from bot.render.contexts import (
    GateCounts,
    GateException,
    GateRow,
    GateUpdateContext,
    GoNoGoRequestContext,
    ReadinessChecklistContext,
)
from bot.render.contexts import GateStatus as GateStatusWord
from bot.services.context_parts import iso, rule_view, runbook_ref
from bot.store.tables import ApprovalRequest, GateState, ReadinessReview, Release

# Stored gate states -> the words people read (and the templates expect).
GATE_STATUS: dict[str, GateStatusWord] = {
    GateStatus.PENDING: "open",
    GateStatus.PASSED: "passed",
    GateStatus.FAILED: "failed",
    GateStatus.WAIVED: "waived",
}


def gate_row(
    runbook: Runbook,
    stage_id: str,
    gate_id: str,
    state: GateState,
    check: CheckResult | None = None,
) -> GateRow:
    gate = next(
        g
        for stage in (runbook.readiness.stages if runbook.readiness else [])
        if stage.id == stage_id
        for g in stage.gates
        if g.id == gate_id
    )
    return {
        "id": gate.id,
        "title": gate.title,
        "owner_role": gate.owner,
        "owner_members": list(runbook.roles.get(gate.owner, [])),
        "status": GATE_STATUS[state.state],
        "marked_by": state.marked_by,
        "marked_at": iso(state.marked_at),
        "reason": state.note,
        "evidence": gate.evidence,
        "evidence_url": None,
        "proposal": check.proposal if check is not None else None,
        "check": check.evidence if check is not None else None,
    }


def gate_counts(states: Iterable[GateState]) -> GateCounts:
    counts: GateCounts = {"passed": 0, "failed": 0, "waived": 0, "open": 0}
    for state in states:
        counts[GATE_STATUS.get(state.state, "open")] += 1
    return counts


def checklist_context(
    runbook: Runbook,
    release: Release,
    review: ReadinessReview,
    states: Sequence[GateState],
    checks: Mapping[str, CheckResult] | None = None,
) -> ReadinessChecklistContext:
    """``checks``: the bot's proposals for the self-checking gates, by gate id."""
    checks = checks or {}
    by_key = {(s.stage_id, s.gate_id): s for s in states}
    assert runbook.readiness is not None
    return {
        "runbook": runbook_ref(runbook),
        "review_id": str(review.id),
        "release_version": release.version,
        "started_by": release.started_by,
        "started_at": iso(release.created_at),
        "stages": [
            {
                "id": stage.id,
                "title": stage.title,
                "gates": [
                    gate_row(
                        runbook, stage.id, gate.id, by_key[(stage.id, gate.id)],
                        checks.get(gate.id),
                    )  # fmt: skip
                    for gate in stage.gates
                    if (stage.id, gate.id) in by_key
                ],
            }
            for stage in runbook.readiness.stages
        ],
        "go_no_go": rule_view(runbook, runbook.readiness.go_no_go),
    }


def gate_update_context(
    runbook: Runbook,
    release: Release,
    review: ReadinessReview,
    state: GateState,
    states: Sequence[GateState],
    check: CheckResult | None = None,
) -> GateUpdateContext:
    assert runbook.readiness is not None
    stage = next(s for s in runbook.readiness.stages if s.id == state.stage_id)
    row = gate_row(runbook, state.stage_id, state.gate_id, state, check)
    return {
        "runbook": runbook_ref(runbook),
        "review_id": str(review.id),
        "release_version": release.version,
        "stage_title": stage.title,
        "gate": row,
        "status": row["status"],
        "actor": state.marked_by or "",
        "at": iso(state.marked_at),
        "reason": state.note,
        "counts": gate_counts(states),
    }


def go_no_go_context(
    runbook: Runbook,
    release: Release,
    review: ReadinessReview,
    request: ApprovalRequest,
    states: Sequence[GateState],
) -> GoNoGoRequestContext:
    assert runbook.readiness is not None
    exceptions: list[GateException] = [
        {
            "title": gate_row(runbook, s.stage_id, s.gate_id, s)["title"],
            "status": GATE_STATUS[s.state],
            "reason": s.note,
            "marked_by": s.marked_by,
        }
        for s in states
        if s.state in ("failed", "waived")
    ]
    return {
        "runbook": runbook_ref(runbook),
        "review_id": str(review.id),
        "request_id": str(request.id),
        "release_version": release.version,
        "requested_by": request.requested_by,
        "requested_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
        "counts": gate_counts(states),
        "exceptions": exceptions,
        "approval": rule_view(runbook, runbook.readiness.go_no_go),
        "decision": None,
    }

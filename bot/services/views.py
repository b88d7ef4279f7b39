"""Template contexts built from runbooks and stored rows (see ``bot.render.contexts``).

Everything returned here is JSON-able (times as ISO text), so a context can be stored in an
outbox job and rendered later by the worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.core.approvals import ApprovalOutcome
from bot.core.runbook import ApprovalRule, Runbook
from bot.store.tables import ApprovalRequest, GateState, ReadinessReview, Release

# Stored gate states -> the words people read (and the templates expect).
GATE_STATUS = {"pending": "open", "passed": "passed", "failed": "failed", "waived": "waived"}


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def runbook_ref(runbook: Runbook) -> dict[str, Any]:
    return {"id": runbook.id, "version": runbook.version, "title": runbook.title or runbook.id}


def rule_view(runbook: Runbook, rule: ApprovalRule) -> dict[str, Any]:
    return {
        "roles": dict(rule.roles),
        "quorum": rule.required_total,
        "role_members": {role: list(runbook.roles.get(role, [])) for role in rule.roles},
        "reject_blocks": rule.reject_blocks,
        "allow_self_approval": rule.allow_self_approval,
    }


def gate_row(runbook: Runbook, stage_id: str, gate_id: str, state: GateState) -> dict[str, Any]:
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
        "status": GATE_STATUS.get(state.state, state.state),
        "marked_by": state.marked_by,
        "marked_at": iso(state.marked_at),
        "reason": state.note,
        "evidence": gate.evidence,
        "evidence_url": None,
    }


def gate_counts(states: Iterable[GateState]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "waived": 0, "open": 0}
    for state in states:
        counts[GATE_STATUS.get(state.state, "open")] += 1
    return counts


def checklist_context(
    runbook: Runbook, release: Release, review: ReadinessReview, states: Sequence[GateState]
) -> dict[str, Any]:
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
                    gate_row(runbook, stage.id, gate.id, by_key[(stage.id, gate.id)])
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
) -> dict[str, Any]:
    assert runbook.readiness is not None
    stage = next(s for s in runbook.readiness.stages if s.id == state.stage_id)
    row = gate_row(runbook, state.stage_id, state.gate_id, state)
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
) -> dict[str, Any]:
    assert runbook.readiness is not None
    exceptions = [
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
    }


IGNORED_WHY = {
    "not_eligible": "holds none of the deciding roles",
    "self_approval": "asked for this decision, and may not approve it alone",
    "duplicate": "already voted",
    "after_decision": "came after the decision",
    "after_expiry": "came after the request expired",
}


def approval_state_context(
    runbook: Runbook,
    request: ApprovalRequest,
    outcome: ApprovalOutcome,
    *,
    kind: str,
    subject_text: str,
    now: datetime,
) -> dict[str, Any]:
    votes = [
        {
            "user": counted.vote.user_id,
            "decision": counted.vote.decision,
            "roles": [counted.role],
            "at": iso(counted.vote.at),
        }
        for counted in outcome.counted
    ] + [
        {
            "user": vote.user_id,
            "decision": vote.decision,
            "roles": sorted(vote.roles),
            "at": iso(vote.at),
        }
        for vote in outcome.rejections
    ]
    return {
        "runbook": runbook_ref(runbook),
        "request_id": str(request.id),
        "kind": kind,
        "subject": subject_text,
        "trail_subject": request.subject,
        "state": str(outcome.state),
        "votes": votes,
        "ignored": [
            {
                "user": ignored.vote.user_id,
                "decision": ignored.vote.decision,
                "at": iso(ignored.vote.at),
                "why": IGNORED_WHY.get(str(ignored.reason), str(ignored.reason)),
            }
            for ignored in outcome.ignored
        ],
        "missing": [
            {"role": role, "needed": needed} for role, needed in outcome.missing.items() if needed
        ],
        "still_needed": outcome.missing_total,
        "quorum": request.quorum,
        "updated_at": iso(now),
    }

"""The ``approval_state`` message's context: votes counted and ignored, what is missing."""

from __future__ import annotations

from datetime import datetime

from bot.core.approvals import ApprovalOutcome
from bot.core.runbook import Runbook
from bot.render.contexts import ApprovalStateContext, VoteView
from bot.services.context_parts import iso, runbook_ref
from bot.store.tables import ApprovalRequest

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
) -> ApprovalStateContext:
    """``kind`` is the request's kind (``go_no_go``, ``rollback``), ``subject_text`` the line
    that names what is decided."""
    approvals: list[VoteView] = [
        {
            "user": counted.vote.user_id,
            "decision": counted.vote.decision,
            "roles": [counted.role],
            "at": iso(counted.vote.at),
        }
        for counted in outcome.counted
    ]
    rejections: list[VoteView] = [
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
        "votes": approvals + rejections,
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

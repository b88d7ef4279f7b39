"""The App Home's items and page (``app_home``; shapes: ``bot.render.contexts``), built from rows.

``HomeService`` reads the rows and decides which items are the person's; these builders only
shape them, so that previews build the same page from sample rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.approvals import ApprovalOutcome
from bot.core.runbook import Runbook
from bot.core.subjects import release_subject
from bot.render.contexts import (
    AppHomeContext,
    HomeApproval,
    HomeDecision,
    HomeGate,
    HomeRelease,
    RunbookRef,
    SlackWhere,
)
from bot.render.drill_contexts import HomeDrills
from bot.render.learning_contexts import (
    HomeActionItem,
    HomeFigure,
    HomeJournalEntry,
    HomeRollbackApproval,
)
from bot.services.context_parts import iso, runbook_ref
from bot.services.releases.contexts import GATE_STATUS, gate_counts
from bot.services.releases.review_rows import ReviewRows
from bot.store.tables import ApprovalRequest, ReadinessReview, Release

MAX_ITEMS = 15  # per list; the page says how many more there are
THREAD_ROOT = "readiness_checklist"
REQUEST_MESSAGE = "go_no_go_request"
# subject -> template -> the permalink of the first message posted from that template
Permalinks = dict[str, dict[str, str]]


def where(release: Release, links: Permalinks, template: str) -> SlackWhere:
    """Where to find a release's conversation: its message's permalink, or its channel."""
    found = links.get(release_subject(release.runbook_id, release.version), {})
    return {
        "permalink": found.get(template) or found.get(THREAD_ROOT),
        "channel_id": release.channel_id,
    }


def active_item(
    ref: RunbookRef,
    release: Release,
    rows: ReviewRows | None,
    request: ApprovalRequest | None,
    links: Permalinks,
) -> HomeRelease:
    """A release in review: its gates counted, its go/no-go's state once asked."""
    return {
        "runbook": ref,
        "release_version": release.version,
        "started_by": release.started_by,
        "started_at": iso(release.created_at),
        "counts": gate_counts(rows.gates if rows is not None else []),
        "go_no_go": None if request is None else request.state,
        **where(release, links, THREAD_ROOT),
    }


def gate_items(rows: ReviewRows, links: Permalinks) -> list[HomeGate]:
    """The review's open gates (each for the members of its ``owner_role``)."""
    runbook, release, _, states = rows
    stages = {stage.id: stage for stage in runbook.readiness.stages} if runbook.readiness else {}
    items: list[HomeGate] = []
    for state in states:
        gate, stage = runbook.gate(state.gate_id), stages.get(state.stage_id)
        if GATE_STATUS.get(state.state) != "open" or gate is None or stage is None:
            continue
        items.append(
            {
                "runbook": runbook_ref(runbook),
                "release_version": release.version,
                "stage_title": stage.title,
                "gate_id": gate.id,
                "title": gate.title,
                "owner_role": gate.owner,
                "evidence": gate.evidence,
                **where(release, links, THREAD_ROOT),
            }
        )
    return items


def approval_item(
    runbook: Runbook,
    release: Release,
    request: ApprovalRequest,
    outcome: ApprovalOutcome,
    links: Permalinks,
    *,
    roles: list[str],
) -> HomeApproval:
    """A pending go/no-go that a person holding ``roles`` (of its deciding roles) may vote on."""
    assert runbook.readiness is not None
    return {
        "runbook": runbook_ref(runbook),
        "release_version": release.version,
        "request_id": str(request.id),
        "roles": roles,
        "requested_by": request.requested_by,
        "requested_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
        "still_needed": outcome.missing_total,
        "quorum": runbook.readiness.go_no_go.required_total,
        **where(release, links, REQUEST_MESSAGE),
    }


def decision_item(
    ref: RunbookRef, release: Release, review: ReadinessReview | None, links: Permalinks
) -> HomeDecision:
    """A decided release, at the time its review was decided."""
    decided = (review.decided_at if review else None) or release.updated_at
    return {
        "runbook": ref,
        "release_version": release.version,
        "outcome": release.state,
        "decided_at": iso(decided),
        **where(release, links, THREAD_ROOT),
    }


def home_page(
    *,
    user_id: str,
    now: datetime,
    unresolved_groups: list[str],
    gates: Sequence[HomeGate],
    approvals: Sequence[HomeApproval],
    active: Sequence[HomeRelease],
    recent: Sequence[HomeDecision],
    drills: Sequence[HomeDrills] = (),
    rollback_approvals: Sequence[HomeRollbackApproval] = (),
    journal_latest: HomeJournalEntry | None = None,
    figures: Sequence[HomeFigure] = (),
    action_items: Sequence[HomeActionItem] = (),
) -> AppHomeContext:
    """One person's page: every list cut to ``MAX_ITEMS``, with how many there are in all."""
    return {
        "user": user_id,
        "updated_at": iso(now),
        "unresolved_groups": unresolved_groups,
        "counts": {"gates": len(gates), "approvals": len(approvals), "active": len(active)},
        "gates": list(gates[:MAX_ITEMS]),
        "approvals": list(approvals[:MAX_ITEMS]),
        "active": list(active[:MAX_ITEMS]),
        "recent": list(recent),
        "drills": list(drills),
        "rollback_approvals": list(rollback_approvals[:MAX_ITEMS]),
        "rollback_approvals_total": len(rollback_approvals),
        "journal_latest": journal_latest,
        "figures": list(figures),
        "action_items": list(action_items[:MAX_ITEMS]),
    }

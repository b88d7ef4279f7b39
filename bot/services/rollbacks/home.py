"""The App Home's rollback and learning parts: the rollback approvals waiting for one person,
the latest rollback journal entry, and the team's process-health figures (the last 30 days
beside the 30 before), all read in the page's snapshot, outside any write transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from bot.core.approvals import ApprovalOutcome, RequestState, evaluate_approval
from bot.core.journal import JOURNAL_KINDS, build_journal
from bot.core.journal_format import actual_text, expected_text
from bot.core.postmortem import POSTMORTEM_KINDS, Postmortem, fold_postmortems
from bot.core.process_health import HEALTH_KINDS, health_report
from bot.core.process_health_format import comparison_rows
from bot.core.runbook import RollbackPath, Runbook
from bot.render.learning_contexts import (
    HomeActionItem,
    HomeFigure,
    HomeJournalEntry,
    HomeRollbackApproval,
)
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.ballots import load_votes
from bot.services.context_parts import iso, runbook_ref
from bot.store.learning import stream_learning_events
from bot.store.tables import ApprovalRequest, RollbackRecommendation, row_id

ROLLBACK_SCAN = 200  # pending rollback requests looked at, newest first
PERIOD = timedelta(days=30)
JOURNAL_WINDOW = timedelta(days=90)
RECOMMENDATION_MESSAGE = "rollback_recommendation"


@dataclass
class RollbackCandidate:
    """A pending rollback request; whether it is the person's depends on roles and votes."""

    runbook: Runbook
    path: RollbackPath
    request: ApprovalRequest
    outcome: ApprovalOutcome
    voters: frozenset[str]
    permalink: str | None

    def item_for(self, held: list[str]) -> HomeRollbackApproval:
        return {
            "runbook": runbook_ref(self.runbook),
            "rollback": self.request.subject,
            "path_title": self.path.title,
            "roles": held,
            "still_needed": self.outcome.missing_total,
            "quorum": self.path.approval.required_total,
            "expires_at": iso(self.request.expires_at),
            "permalink": self.permalink,
            "channel_id": self.request.channel_id,
        }

    def waits_for(self, user_id: str, holds: Callable[[Runbook, str], bool]) -> list[str]:
        """The approving roles ``user_id`` holds, if the request waits for their vote."""
        rule = self.path.approval
        if user_id in self.voters:
            return []
        if user_id == self.request.requested_by and not rule.allow_self_approval:
            return []
        return [role for role in rule.roles if holds(self.runbook, role)]


Links = Callable[[list[str]], dict[str, dict[str, str]]]


def pending_rollbacks(
    session: Session, runbooks: RunbookRegistry, permalinks: Links, *, now: datetime
) -> list[RollbackCandidate]:
    """The pending rollback requests (newest first, at most ``ROLLBACK_SCAN``);
    ``permalinks(subjects)`` finds their messages."""
    rows = session.exec(
        select(ApprovalRequest, RollbackRecommendation)
        .join(
            RollbackRecommendation,
            col(ApprovalRequest.recommendation_id) == RollbackRecommendation.id,
        )
        .where(
            ApprovalRequest.action == "rollback",
            ApprovalRequest.state == RequestState.PENDING.value,
        )
        .order_by(col(ApprovalRequest.id).desc())
        .limit(ROLLBACK_SCAN)
    ).all()
    links = permalinks([request.subject for request, _ in rows])
    found = []
    for request, recommendation in rows:
        runbook = runbooks.get(recommendation.runbook_id)
        path = runbook.path(request.path_id or "") if runbook else None
        if runbook is None or path is None:
            continue
        votes = load_votes(session, request_id=row_id(request))
        outcome = evaluate_approval(
            path.approval, votes, requester=request.requested_by,
            requested_at=request.created_at, now=now, expires_at=request.expires_at,
        )  # fmt: skip
        link = links.get(request.subject, {}).get(RECOMMENDATION_MESSAGE)
        voters = frozenset(vote.user_id for vote in votes)
        found.append(RollbackCandidate(runbook, path, request, outcome, voters, link))
    return found


def latest_journal_entry(connection: Connection, *, now: datetime) -> HomeJournalEntry | None:
    entries = build_journal(
        stream_learning_events(connection, kinds=JOURNAL_KINDS, since=now - JOURNAL_WINDOW)
    )
    if not entries:
        return None
    entry = entries[-1]
    return {
        "subject": entry.subject,
        "runbook_id": entry.runbook_id or "?",
        "path": entry.path or "?",
        "expected": expected_text(entry),
        "actual": actual_text(entry),
    }


def team_figures(connection: Connection, *, now: datetime) -> list[HomeFigure]:
    """The team's figures: the last 30 days beside the 30 before."""
    current = health_report(
        stream_learning_events(connection, kinds=HEALTH_KINDS, since=now - PERIOD)
    )
    previous = health_report(
        stream_learning_events(
            connection, kinds=HEALTH_KINDS, since=now - 2 * PERIOD, until=now - PERIOD
        )
    )
    return [
        {"figure": figure, "current": now_text, "previous": before}
        for figure, now_text, before in comparison_rows(current, previous)
    ]


def read_postmortems(connection: Connection) -> dict[str, Postmortem]:
    return fold_postmortems(stream_learning_events(connection, kinds=POSTMORTEM_KINDS))


def open_action_items(postmortems: dict[str, Postmortem], user_id: str) -> list[HomeActionItem]:
    """The open post-mortem action items ``user_id`` owns, oldest first."""
    return [
        {"subject": p.subject, "item": item.id, "text": item.text,
         "due": item.due.isoformat() if item.due else None}
        for p in postmortems.values() for item in p.open_items if item.owner == user_id
    ]  # fmt: skip

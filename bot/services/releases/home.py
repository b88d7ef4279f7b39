"""The App Home: what waits for one person, what is under way, what was decided lately.

``home_context`` reads one snapshot (a read transaction), then, outside it, works out which
gates and go/no-go requests the person may act on, resolving user groups through the
directory. A group that cannot be looked up is named on the page, which then says it may be
incomplete. The items are shaped by ``bot.services.releases.home_items``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.approvals import ApprovalOutcome, RequestState, evaluate_approval
from bot.core.postmortem import Postmortem
from bot.core.releases import ReleaseState, ReviewState
from bot.core.runbook import Runbook
from bot.core.subjects import release_subject
from bot.render.contexts import (
    AppHomeContext,
    HomeApproval,
    HomeDecision,
    HomeGate,
    HomeRelease,
    RunbookRef,
)
from bot.render.drill_contexts import HomeDrills
from bot.render.learning_contexts import HomeFigure, HomeJournalEntry
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.ballots import load_votes
from bot.services.context_parts import runbook_ref
from bot.services.drills.home import home_drills
from bot.services.outbox.jobs import PublishHome
from bot.services.releases.go_no_go import ACTION as GO_NO_GO
from bot.services.releases.home_items import (
    Permalinks,
    active_item,
    approval_item,
    decision_item,
    gate_items,
    home_page,
)
from bot.services.releases.review_rows import ReviewRows, load_review
from bot.services.roles import GroupDirectory, MembershipUnavailable, is_group
from bot.services.rollbacks.home import (
    RollbackCandidate,
    latest_journal_entry,
    open_action_items,
    pending_rollbacks,
    read_postmortems,
    team_figures,
)
from bot.store import UnitOfWork, read_connection
from bot.store.inbox import claim_delivery
from bot.store.tables import ApprovalRequest, ReadinessReview, Release, TrailEventRow, row_id
from bot.store.units import DirectUnits, UnitRunner

RECENT_DECISIONS = 10
ACTIVE_SCAN = 200  # releases in review looked at, newest first


@dataclass
class _RequestCandidate:
    """A pending go/no-go; whether it is the person's depends on their roles and vote."""

    rows: ReviewRows
    request: ApprovalRequest
    outcome: ApprovalOutcome
    voters: frozenset[str]

    def item_for(self, held: list[str], links: Permalinks) -> HomeApproval:
        runbook, release = self.rows.runbook, self.rows.release
        return approval_item(runbook, release, self.request, self.outcome, links, roles=held)


@dataclass
class _Snapshot:
    links: Permalinks = field(default_factory=dict)
    gates: list[tuple[Runbook, HomeGate]] = field(default_factory=list)
    requests: list[_RequestCandidate] = field(default_factory=list)
    active: list[HomeRelease] = field(default_factory=list)
    recent: list[HomeDecision] = field(default_factory=list)
    drills: list[HomeDrills] = field(default_factory=list)
    rollbacks: list[RollbackCandidate] = field(default_factory=list)
    journal_latest: HomeJournalEntry | None = None
    figures: list[HomeFigure] = field(default_factory=list)
    postmortems: dict[str, Postmortem] = field(default_factory=dict)


class _Membership:
    """Which roles one user holds, each user group looked up at most once per page."""

    def __init__(self, directory: GroupDirectory, user_id: str) -> None:
        self.directory, self.user_id = directory, user_id
        self.unresolved: list[str] = []
        self._groups: dict[str, frozenset[str] | None] = {}

    def holds(self, runbook: Runbook, role: str) -> bool:
        members = runbook.roles.get(role, [])
        if self.user_id in members:
            return True
        return any(
            self.user_id in (self._group(member) or ()) for member in members if is_group(member)
        )

    def _group(self, group_id: str) -> frozenset[str] | None:
        if group_id not in self._groups:
            try:
                self._groups[group_id] = self.directory.members(group_id)
            except MembershipUnavailable:
                self._groups[group_id] = None
                self.unresolved.append(group_id)
        return self._groups[group_id]


class HomeService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
        units: UnitRunner | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.units = units if units is not None else DirectUnits(engine)

    def request_publish(self, *, user_id: str, now: datetime, delivery_key: str) -> bool:
        """Queue the publishing of ``user_id``'s App Home, once per delivery of the event."""

        def unit(uow: UnitOfWork) -> bool:
            if not claim_delivery(uow.session, key=delivery_key, now=now):
                return False
            uow.enqueue(PublishHome(user_id=user_id), now=now)
            return True

        return self.units.run(unit)

    def home_context(self, *, user_id: str, now: datetime) -> AppHomeContext:
        snapshot = self._snapshot(now=now)
        membership = _Membership(self.directory, user_id)
        gates = [item for runbook, item in snapshot.gates
                 if membership.holds(runbook, item["owner_role"])]  # fmt: skip
        approvals = []
        for candidate in snapshot.requests:
            runbook = candidate.rows.runbook
            assert runbook.readiness is not None
            rule = runbook.readiness.go_no_go
            held = [role for role in rule.roles if membership.holds(runbook, role)]
            if not held or user_id in candidate.voters:
                continue
            if user_id == candidate.request.requested_by and not rule.allow_self_approval:
                continue
            approvals.append(candidate.item_for(held, snapshot.links))
        rollbacks = []
        for rollback in snapshot.rollbacks:
            if roles := rollback.waits_for(user_id, membership.holds):
                rollbacks.append(rollback.item_for(roles))
        return home_page(
            user_id=user_id, now=now, unresolved_groups=membership.unresolved, gates=gates,
            approvals=approvals, active=snapshot.active, recent=snapshot.recent,
            drills=snapshot.drills,
            rollback_approvals=rollbacks, journal_latest=snapshot.journal_latest,
            figures=snapshot.figures, action_items=open_action_items(snapshot.postmortems, user_id),
        )  # fmt: skip

    # --- reading ----------------------------------------------------------------------------

    def _snapshot(self, *, now: datetime) -> _Snapshot:
        snapshot = _Snapshot()
        with read_connection(self.engine) as connection, Session(bind=connection) as session:
            active = list(
                session.exec(
                    select(Release)
                    .where(Release.state == ReleaseState.REVIEWING)
                    .order_by(col(Release.id).desc())
                    .limit(ACTIVE_SCAN)
                ).all()
            )
            recent = list(
                session.exec(
                    select(Release)
                    .where(Release.state != ReleaseState.REVIEWING)
                    .order_by(col(Release.updated_at).desc(), col(Release.id).desc())
                    .limit(RECENT_DECISIONS)
                ).all()
            )
            subjects = [release_subject(r.runbook_id, r.version) for r in active + recent]
            links = snapshot.links = _permalinks(session, subjects=subjects)
            reviews = _reviews_by_release(session, [row_id(r) for r in active + recent])
            for release in active:
                review = reviews.get(row_id(release))
                review_id = None if review is None else row_id(review)
                rows = None
                if review_id is not None:
                    rows = load_review(session, review_id=review_id, runbooks=self.runbooks)
                request = None if review_id is None else _go_no_go(session, review_id)
                ref = self._ref(release)
                snapshot.active.append(active_item(ref, release, rows, request, links))
                if rows is not None and rows.review.state == ReviewState.PENDING:
                    snapshot.gates += [(rows.runbook, item) for item in gate_items(rows, links)]
                pending = request is not None and request.state == RequestState.PENDING
                if rows is not None and request is not None and pending:
                    snapshot.requests.append(_request_candidate(session, rows, request, now=now))
            snapshot.recent = [
                decision_item(self._ref(release), release, reviews.get(row_id(release)), links)
                for release in recent
            ]
            snapshot.drills = home_drills(session, self.runbooks)
            snapshot.rollbacks = pending_rollbacks(
                session, self.runbooks, lambda subjects: _permalinks(session, subjects=subjects),
                now=now,
            )  # fmt: skip
            snapshot.journal_latest = latest_journal_entry(connection, now=now)
            snapshot.figures = team_figures(connection, now=now)
            snapshot.postmortems = read_postmortems(connection)
        return snapshot

    def _ref(self, release: Release) -> RunbookRef:
        runbook = self.runbooks.get(release.runbook_id)
        if runbook is not None:
            return runbook_ref(runbook)
        return {"id": release.runbook_id, "version": release.runbook_version, "title": ""}


def _reviews_by_release(session: Session, release_ids: list[int]) -> dict[int, ReadinessReview]:
    if not release_ids:
        return {}
    rows = session.exec(
        select(ReadinessReview).where(col(ReadinessReview.release_id).in_(release_ids))
    ).all()
    return {row.release_id: row for row in rows}


def _go_no_go(session: Session, review_id: int) -> ApprovalRequest | None:
    return session.exec(
        select(ApprovalRequest)
        .where(ApprovalRequest.review_id == review_id, ApprovalRequest.action == GO_NO_GO)
        .order_by(col(ApprovalRequest.id).desc())
    ).first()


def _permalinks(session: Session, *, subjects: Iterable[str]) -> Permalinks:
    """subject -> template -> the permalink of the first message posted from that template."""
    wanted = sorted(set(subjects))
    links: Permalinks = {}
    if not wanted:
        return links
    rows = session.exec(
        select(TrailEventRow.subject, TrailEventRow.permalink, TrailEventRow.payload_json)
        .where(
            TrailEventRow.kind == "slack.message_posted",
            col(TrailEventRow.subject).in_(wanted),
            col(TrailEventRow.permalink).is_not(None),
        )
        .order_by(col(TrailEventRow.seq))
    ).all()
    for subject, permalink, payload_json in rows:
        try:
            template = str(json.loads(payload_json).get("template") or "")
        except (ValueError, AttributeError):
            continue
        links.setdefault(subject, {}).setdefault(template, str(permalink))
    return links


def _request_candidate(
    session: Session, rows: ReviewRows, request: ApprovalRequest, *, now: datetime
) -> _RequestCandidate:
    assert rows.runbook.readiness is not None
    votes = load_votes(session, request_id=row_id(request))
    outcome = evaluate_approval(
        rows.runbook.readiness.go_no_go,
        votes,
        requester=request.requested_by,
        requested_at=request.created_at,
        now=now,
        expires_at=request.expires_at,
    )
    return _RequestCandidate(rows, request, outcome, frozenset(vote.user_id for vote in votes))

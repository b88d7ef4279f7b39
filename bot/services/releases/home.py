"""The App Home: what waits for one person, what is under way, what was decided lately.

``home_context`` reads one snapshot (a read transaction), then, outside it, works out which
gates and go/no-go requests the person may act on, resolving user groups through the
directory. A group that cannot be looked up is named on the page, which then says it may be
incomplete. The result is the context of ``app_home.json.j2`` (``contexts.AppHome``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.approvals import evaluate_approval
from bot.core.runbook import Runbook
from bot.core.subjects import release_subject
from bot.render.contexts import RunbookRef
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.ballots import load_votes
from bot.services.context_parts import iso, runbook_ref
from bot.services.outbox.jobs import PublishHome
from bot.services.releases.contexts import GATE_STATUS, gate_counts
from bot.services.releases.go_no_go import ACTION as GO_NO_GO
from bot.services.releases.review_rows import ReviewRows, load_review
from bot.services.roles import GroupDirectory, MembershipUnavailable, is_group
from bot.store import UnitOfWork, read_connection
from bot.store.inbox import claim_delivery
from bot.store.tables import ApprovalRequest, ReadinessReview, Release, TrailEventRow, row_id
from bot.store.units import DirectUnits, UnitRunner

MAX_ITEMS = 15  # per list; the page says how many more there are
RECENT_DECISIONS = 10
ACTIVE_SCAN = 200  # releases in review looked at, newest first
THREAD_ROOT = "readiness_checklist"
REQUEST_MESSAGE = "go_no_go_request"


@dataclass
class _GateCandidate:
    runbook: Runbook
    role: str
    item: dict[str, Any]


@dataclass
class _RequestCandidate:
    runbook: Runbook
    roles: list[str]
    requester: str
    allow_self: bool
    voters: frozenset[str]
    item: dict[str, Any]


@dataclass
class _Snapshot:
    gates: list[_GateCandidate] = field(default_factory=list)
    requests: list[_RequestCandidate] = field(default_factory=list)
    active: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)


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

    def home_context(self, *, user_id: str, now: datetime) -> dict[str, Any]:
        snapshot = self._snapshot(now=now)
        membership = _Membership(self.directory, user_id)
        gates = [c.item for c in snapshot.gates if membership.holds(c.runbook, c.role)]
        approvals = []
        for request in snapshot.requests:
            held = [role for role in request.roles if membership.holds(request.runbook, role)]
            if not held or user_id in request.voters:
                continue
            if user_id == request.requester and not request.allow_self:
                continue
            approvals.append({**request.item, "roles": held})
        active = snapshot.active
        return {
            "user": user_id,
            "updated_at": iso(now),
            "unresolved_groups": membership.unresolved,
            "counts": {"gates": len(gates), "approvals": len(approvals), "active": len(active)},
            "gates": gates[:MAX_ITEMS],
            "approvals": approvals[:MAX_ITEMS],
            "active": active[:MAX_ITEMS],
            "recent": snapshot.recent,
        }

    # --- reading ----------------------------------------------------------------------------

    def _snapshot(self, *, now: datetime) -> _Snapshot:
        snapshot = _Snapshot()
        with read_connection(self.engine) as connection, Session(bind=connection) as session:
            active = list(
                session.exec(
                    select(Release)
                    .where(Release.state == "reviewing")
                    .order_by(col(Release.id).desc())
                    .limit(ACTIVE_SCAN)
                ).all()
            )
            recent = list(
                session.exec(
                    select(Release)
                    .where(Release.state != "reviewing")
                    .order_by(col(Release.updated_at).desc(), col(Release.id).desc())
                    .limit(RECENT_DECISIONS)
                ).all()
            )
            subjects = [release_subject(r.runbook_id, r.version) for r in active + recent]
            links = _permalinks(session, subjects=subjects)
            reviews = _reviews_by_release(session, [row_id(r) for r in active + recent])
            for release in active:
                review = reviews.get(row_id(release))
                review_id = None if review is None else row_id(review)
                bundle = None
                if review_id is not None:
                    bundle = load_review(session, review_id=review_id, runbooks=self.runbooks)
                request = None if review_id is None else _go_no_go(session, review_id)
                where = _where(release, links, THREAD_ROOT)
                item = _active_item(self._ref(release), release, bundle, request, where)
                snapshot.active.append(item)
                if bundle is not None and bundle[2].state == "pending":
                    snapshot.gates += _gate_candidates(bundle, where)
                if bundle is not None and request is not None and request.state == "pending":
                    snapshot.requests.append(
                        _request_candidate(session, bundle, request, links, now=now)
                    )
            for release in recent:
                review = reviews.get(row_id(release))
                decided = (review.decided_at if review else None) or release.updated_at
                snapshot.recent.append(
                    {
                        "runbook": self._ref(release),
                        "release_version": release.version,
                        "outcome": release.state,
                        "decided_at": iso(decided),
                        **_where(release, links, THREAD_ROOT),
                    }
                )
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


def _permalinks(session: Session, *, subjects: Iterable[str]) -> dict[str, dict[str, str]]:
    """subject -> template -> the permalink of the first message posted from that template."""
    wanted = sorted(set(subjects))
    links: dict[str, dict[str, str]] = {}
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


def _where(release: Release, links: dict[str, dict[str, str]], template: str) -> dict[str, Any]:
    """Where to find a release's conversation: its message's permalink, or its channel."""
    found = links.get(release_subject(release.runbook_id, release.version), {})
    return {
        "permalink": found.get(template) or found.get(THREAD_ROOT),
        "channel_id": release.channel_id,
    }


def _active_item(
    ref: RunbookRef,
    release: Release,
    bundle: ReviewRows | None,
    request: ApprovalRequest | None,
    where: dict[str, Any],
) -> dict[str, Any]:
    return {
        "runbook": ref,
        "release_version": release.version,
        "started_by": release.started_by,
        "started_at": iso(release.created_at),
        "counts": gate_counts(bundle[3] if bundle is not None else []),
        "go_no_go": None if request is None else request.state,
        **where,
    }


def _gate_candidates(bundle: ReviewRows, where: dict[str, Any]) -> list[_GateCandidate]:
    runbook, release, _, states = bundle
    stages = {stage.id: stage for stage in runbook.readiness.stages} if runbook.readiness else {}
    candidates = []
    for state in states:
        gate, stage = runbook.gate(state.gate_id), stages.get(state.stage_id)
        if GATE_STATUS.get(state.state) != "open" or gate is None or stage is None:
            continue
        item = {
            "runbook": runbook_ref(runbook),
            "release_version": release.version,
            "stage_title": stage.title,
            "gate_id": gate.id,
            "title": gate.title,
            "owner_role": gate.owner,
            "evidence": gate.evidence,
            **where,
        }
        candidates.append(_GateCandidate(runbook, gate.owner, item))
    return candidates


def _request_candidate(
    session: Session,
    bundle: ReviewRows,
    request: ApprovalRequest,
    links: dict[str, dict[str, str]],
    *,
    now: datetime,
) -> _RequestCandidate:
    runbook, release, _, _ = bundle
    assert runbook.readiness is not None
    rule = runbook.readiness.go_no_go
    votes = load_votes(session, request_id=row_id(request))
    outcome = evaluate_approval(
        rule,
        votes,
        requester=request.requested_by,
        requested_at=request.created_at,
        now=now,
        expires_at=request.expires_at,
    )
    item = {
        "runbook": runbook_ref(runbook),
        "release_version": release.version,
        "request_id": str(request.id),
        "requested_by": request.requested_by,
        "requested_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
        "still_needed": outcome.missing_total,
        "quorum": rule.required_total,
        **_where(release, links, REQUEST_MESSAGE),
    }
    return _RequestCandidate(
        runbook=runbook,
        roles=list(rule.roles),
        requester=request.requested_by,
        allow_self=rule.allow_self_approval,
        voters=frozenset(vote.user_id for vote in votes),
        item=item,
    )

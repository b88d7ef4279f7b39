"""Shared loading and recording for the service functions: rows in, trail events out."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlmodel import Session, select

from bot.core.approvals import Vote
from bot.core.runbook import Runbook
from bot.runbooks.registry import RunbookRegistry
from bot.store.tables import (
    GateState,
    ReadinessReview,
    Release,
    RollbackRecommendation,
)
from bot.store.trail import defer_trail_event
from bot.store.transitions import VoteRecord, vote_rows

ReviewBundle = tuple[Runbook, Release, ReadinessReview, list[GateState]]


def trail(
    session: Session,
    *,
    kind: str,
    actor: str,
    subject: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
    actor_role: str | None = None,
    channel_id: str | None = None,
    thread_ts: str | None = None,
    message_ts: str | None = None,
    permalink: str | None = None,
) -> None:
    """Record a trail event in the session's unit of work: it is appended, in order, when the
    decision commits (and never if it does not)."""
    defer_trail_event(
        session,
        kind=kind,
        actor=actor,
        subject=subject,
        at=at,
        payload=copy.deepcopy(payload or {}),
        actor_role=actor_role,
        channel_id=channel_id,
        thread_ts=thread_ts,
        message_ts=message_ts,
        permalink=permalink,
    )


class HasId(Protocol):
    id: int | None


def row_id(row: HasId) -> int:
    """The id of a row that has been flushed (so it has one)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


def review_bundle(
    session: Session, *, review_id: int, runbooks: RunbookRegistry
) -> ReviewBundle | None:
    """A review with its release, its gate states (in id order) and its runbook."""
    review = session.get(ReadinessReview, review_id)
    if review is None:
        return None
    release = session.get(Release, review.release_id)
    runbook = runbooks.get(review.runbook_id)
    if release is None or runbook is None:
        return None
    states = list(
        session.exec(
            select(GateState).where(GateState.review_id == review_id).order_by(GateState.id)  # type: ignore[arg-type]
        ).all()
    )
    return runbook, release, review, states


def rollback_thread(recommendation: RollbackRecommendation) -> str | None:
    """Where a rollback's conversation happens: the release thread it was posted in, or the
    thread under the recommendation itself."""
    return recommendation.thread_ts or recommendation.message_ts


def load_votes(session: Session, *, request_id: int) -> list[Vote]:
    """The stored votes as core values, with the roles each voter held when voting."""
    return [as_vote(row) for row in vote_rows(session, request_id=request_id)]


def as_vote(row: VoteRecord) -> Vote:
    roles = frozenset(r for r in (row.role or "").split(",") if r)
    decision: Literal["approve", "reject"] = "approve" if row.decision == "approve" else "reject"
    return Vote(user_id=row.user_id, decision=decision, at=row.created_at, roles=roles)

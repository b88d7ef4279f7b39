"""Votes on a ballot, whatever its kind: recording a vote, counting with the core (who may
vote: ``bot.services.approvals.refusals``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.core.approvals import ApprovalOutcome, Decision, Vote, evaluate_approval
from bot.services.approvals.kinds import Ballot
from bot.store import UnitOfWork
from bot.store.tables import row_id
from bot.store.votes import VoteRecord, vote_rows


def record_and_count(
    uow: UnitOfWork,
    ballot: Ballot[Any],
    *,
    user_id: str,
    held: frozenset[str],
    decision: Decision,
    now: datetime,
    reason: str | None,
    action_ts: str | None = None,
) -> ApprovalOutcome | None:
    """Store the vote and its trail event; the outcome of all votes, or None for a repeat."""
    request = ballot.request
    roles = ",".join(sorted(held))
    rows = uow.votes.record_and_read(
        uow.session,
        request_id=row_id(request),
        user_id=user_id,
        decision=decision,
        now=now,
        action_ts=action_ts,
        role=roles,
    )
    if rows is None:
        return None
    uow.trail(
        kind=f"approval.{decision}",
        actor=user_id,
        actor_role=roles,
        subject=request.subject,
        at=now,
        channel_id=request.channel_id,
        thread_ts=ballot.thread_ts,
        message_ts=request.message_ts,
        payload={"request_id": request.id, "reason": reason},
    )
    return _evaluate(ballot, [as_vote(row) for row in rows], now)


def count(uow: UnitOfWork, ballot: Ballot[Any], *, now: datetime) -> ApprovalOutcome:
    """The outcome of every vote recorded so far.

    Evaluated at ``now`` or at the latest vote's time if later: two clicks handled at once
    (two threads, two replicas) each take ``now`` before the other's vote commits, and the
    one that counts last must still see both.
    """
    return _evaluate(ballot, load_votes(uow.session, request_id=row_id(ballot.request)), now)


def _evaluate(ballot: Ballot[Any], votes: list[Vote], now: datetime) -> ApprovalOutcome:
    request = ballot.request
    return evaluate_approval(
        ballot.rule,
        votes,
        requester=request.requested_by,
        requested_at=request.created_at,
        now=max([now, *(vote.at for vote in votes)]),
        expires_at=request.expires_at,
    )


def load_votes(session: Session, *, request_id: int) -> list[Vote]:
    """The stored votes as core values, with the roles each voter held when voting."""
    return [as_vote(row) for row in vote_rows(session, request_id=request_id)]


def as_vote(row: VoteRecord) -> Vote:
    roles = frozenset(r for r in (row.role or "").split(",") if r)
    decision: Decision = "approve" if row.decision == "approve" else "reject"
    return Vote(user_id=row.user_id, decision=decision, at=row.created_at, roles=roles)

"""Votes on a ballot, whatever its kind: who may vote, recording a vote, counting with the core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.core.approvals import REQUEST, ApprovalOutcome, Decision, Vote, evaluate_approval
from bot.render.escaping import mrkdwn_text as esc
from bot.services.approvals.clicks import MISPLACED_TEXT, Clicked, misplaced
from bot.services.approvals.kinds import Ballot
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.store import UnitOfWork
from bot.store.tables import row_id
from bot.store.votes import VoteRecord, vote_rows

ALREADY_COUNTED = "Your vote was already counted; it counts once."


def vote_refusal(
    uow: UnitOfWork,
    ballot: Ballot[Any],
    *,
    noun: str,
    user_id: str,
    decision: Decision,
    directory: GroupDirectory,
    now: datetime,
    check_duplicate: bool = True,
    clicked: Clicked | None = None,
) -> tuple[Reply | None, frozenset[str]]:
    """Why ``user_id`` may not vote (recorded in the trail), or None and the roles they hold.

    ``noun`` names the kind of request in the answer ("This go/no-go is already approved.");
    ``clicked`` is where the click came from, checked against where the request was posted.
    """
    request, rule = ballot.request, ballot.rule

    def refuse(why: str, text: str, *, wrong_place: bool = False, **extra: object) -> Reply:
        uow.trail(
            kind="approval.refused",
            actor=user_id,
            subject=request.subject,
            at=now,
            channel_id=request.channel_id,
            thread_ts=ballot.thread_ts,
            message_ts=request.message_ts,
            payload={"request_id": request.id, "decision": decision, "why": why, **extra},
        )
        return Reply(False, text, misplaced=wrong_place)

    wrong = misplaced(
        clicked, channel_id=request.channel_id, message_ts=request.message_ts,
        thread_ts=ballot.thread_ts,
    )  # fmt: skip
    if wrong is not None and clicked is not None:
        text = MISPLACED_TEXT.format(noun=noun)
        return refuse(wrong, text, wrong_place=True, **clicked.details()), frozenset()
    if request.state not in REQUEST.open_states:
        return Reply(False, f"This {noun} is already {request.state}."), frozenset()
    try:
        held = roles_of(ballot.runbook, user_id, directory, among=list(rule.roles))
    except MembershipUnavailable as error:
        return refuse(
            "membership_unavailable",
            f"I could not check your roles ({esc(error)}), so your vote was not "
            "recorded. Try again shortly.",
            detail=str(error),
        ), frozenset()
    if not held:
        return refuse(
            "not_eligible",
            "Only members of "
            + ", ".join(f"*{r}*" for r in rule.roles)
            + f" decide this {noun}; your vote was not counted.",
            roles_held=[],
        ), held
    if decision == "approve" and user_id == request.requested_by and not rule.allow_self_approval:
        return refuse(
            "self_approval",
            "You asked for this, so your approval does not count (separation of "
            "duties): another member must approve.",
            roles_held=sorted(held),
        ), held
    if check_duplicate and any(
        vote.user_id == user_id for vote in load_votes(uow.session, request_id=row_id(request))
    ):
        return Reply(False, ALREADY_COUNTED), held
    return None, held


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

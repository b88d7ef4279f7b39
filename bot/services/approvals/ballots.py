"""What every approval request shares (go/no-go and rollback): who may vote, recording a vote,
and counting the votes with the core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from bot.core.approvals import ApprovalOutcome, Vote, evaluate_approval
from bot.core.runbook import ApprovalRule, Runbook
from bot.render.escaping import mrkdwn_text as esc
from bot.services.ledger import as_vote, load_votes, row_id, trail
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.store.tables import ApprovalRequest
from bot.store.transitions import record_vote_and_read

Decision = Literal["approve", "reject"]
VOTABLE = ("pending", "held")


def vote_refusal(
    session: Session,
    *,
    runbook: Runbook,
    rule: ApprovalRule,
    request: ApprovalRequest,
    user_id: str,
    decision: Decision,
    directory: GroupDirectory,
    now: datetime,
    thread_ts: str | None,
    what: str,
    check_duplicate: bool = True,
) -> tuple[Reply | None, frozenset[str]]:
    """Why ``user_id`` may not vote (recorded in the trail), or None and the roles they hold."""
    where = {
        "channel_id": request.channel_id,
        "thread_ts": thread_ts,
        "message_ts": request.message_ts,
    }
    if request.state not in VOTABLE:
        return Reply(False, f"This {what} is already {request.state}."), frozenset()

    def refuse(why: str, text: str, **extra: object) -> Reply:
        trail(
            session,
            kind="approval.refused",
            actor=user_id,
            subject=request.subject,
            at=now,
            **where,
            payload={"request_id": request.id, "decision": decision, "why": why, **extra},
        )
        return Reply(False, text)

    try:
        held = roles_of(runbook, user_id, directory, among=list(rule.roles))
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
            + f" decide this {what}; your vote was not counted.",
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
        vote.user_id == user_id for vote in load_votes(session, request_id=row_id(request))
    ):
        return Reply(False, "Your vote was already counted; it counts once."), held
    return None, held


def record_and_count(
    session: Session,
    *,
    rule: ApprovalRule,
    request: ApprovalRequest,
    user_id: str,
    held: frozenset[str],
    decision: Decision,
    now: datetime,
    reason: str | None,
    thread_ts: str | None,
    action_ts: str | None = None,
) -> ApprovalOutcome | None:
    """Store the vote and its trail event; the outcome of all votes, or None for a repeat."""
    roles = ",".join(sorted(held))
    rows = record_vote_and_read(
        session,
        request_id=row_id(request),
        user_id=user_id,
        decision=decision,
        now=now,
        action_ts=action_ts,
        role=roles,
    )
    if rows is None:
        return None
    trail(
        session,
        kind=f"approval.{decision}",
        actor=user_id,
        actor_role=roles,
        subject=request.subject,
        at=now,
        channel_id=request.channel_id,
        thread_ts=thread_ts,
        message_ts=request.message_ts,
        payload={"request_id": request.id, "reason": reason},
    )
    return _evaluate(rule, request, [as_vote(row) for row in rows], now)


def count(
    session: Session, *, rule: ApprovalRule, request: ApprovalRequest, now: datetime
) -> ApprovalOutcome:
    """The outcome of every vote recorded so far.

    Evaluated at ``now`` or at the latest vote's time if later: two clicks handled at once
    (two threads, two replicas) each take ``now`` before the other's vote commits, and the
    one that counts last must still see both.
    """
    return _evaluate(rule, request, load_votes(session, request_id=row_id(request)), now)


def _evaluate(
    rule: ApprovalRule, request: ApprovalRequest, votes: list[Vote], now: datetime
) -> ApprovalOutcome:
    latest = max([now, *(vote.at for vote in votes)])
    return evaluate_approval(
        rule, votes, requester=request.requested_by, requested_at=request.created_at, now=latest
    )


def mentions(runbook: Runbook, roles: Sequence[str]) -> str:
    return " ".join(
        f"<!subteam^{member}>" if member.startswith("S") else f"<@{member}>"
        for role in roles
        for member in runbook.roles.get(role, [])
    )

"""Why a vote is not counted, each refused attempt kept in the trail.

An audit must see every attempt, not only the votes that counted: a click from a message
that does not carry the request, a click after the decision or past the deadline, an
outsider's, the requester's own approval, a second vote by someone who already voted. Each
is one ``approval.refused`` event on the request's subject: the actor, the roles they held
(``actor_role``, and ``roles_held`` in the payload; ``null`` when they could not be checked),
the vote they tried (``decision``) and ``why`` (the core's ignore reasons where they apply:
``after_decision``, ``after_expiry``, ``not_eligible``, ``self_approval``, ``duplicate``;
besides them ``superseded``, ``membership_unavailable``, ``another_channel``,
``another_message``). One event per attempt, appended with the unit's other writes: a
flood of double clicks costs a row each, like the clicks that count.

A vote's click delivered twice (a proxy's retry: the ``action_ts`` of the vote that counted)
is not a second attempt: it is answered again and adds nothing. Other refusals are recorded
per delivery (Slack does not send a click again once it was answered).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bot.core.approvals import REQUEST, Decision, RequestState, is_overdue
from bot.render.escaping import mrkdwn_text as esc
from bot.services.approvals.clicks import MISPLACED_TEXT, Clicked, misplaced
from bot.services.approvals.kinds import Ballot
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.store import UnitOfWork
from bot.store.tables import row_id
from bot.store.votes import VoteRecord, vote_rows

ALREADY_COUNTED = "Your vote was already counted; it counts once."
_CLOSED_WHY = {RequestState.EXPIRED: "after_expiry", RequestState.SUPERSEDED: "superseded"}


def refuse_vote(
    uow: UnitOfWork,
    ballot: Ballot[Any],
    *,
    user_id: str,
    decision: Decision,
    why: str,
    text: str,
    held: Iterable[str] | None,
    now: datetime,
    misplaced_click: bool = False,
    detail: Mapping[str, object] | None = None,
) -> Reply:
    """Record the refused attempt in the trail; what the person is told."""
    request = ballot.request
    roles = None if held is None else sorted(held)
    uow.trail(
        kind="approval.refused",
        actor=user_id,
        actor_role=",".join(roles) if roles else None,
        subject=request.subject,
        at=now,
        channel_id=request.channel_id,
        thread_ts=ballot.thread_ts,
        message_ts=request.message_ts,
        payload={
            "request_id": request.id,
            "decision": decision,
            "why": why,
            "roles_held": roles,
            **(detail or {}),
        },
    )
    return Reply(False, text, misplaced=misplaced_click)


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
    ``check_duplicate=False`` leaves a repeat vote to the vote's unique key
    (``duplicate_refusal`` then records it).
    """
    request, rule = ballot.request, ballot.rule

    def refuse(
        why: str, text: str, held: Iterable[str] | None, *, wrong_place: bool = False,
        detail: Mapping[str, object] | None = None,
    ) -> Reply:  # fmt: skip
        return refuse_vote(
            uow, ballot, user_id=user_id, decision=decision, why=why, text=text, held=held,
            now=now, misplaced_click=wrong_place, detail=detail,
        )  # fmt: skip

    wrong = misplaced(
        clicked, channel_id=request.channel_id, message_ts=request.message_ts,
        thread_ts=ballot.thread_ts,
    )  # fmt: skip
    if wrong is not None and clicked is not None:
        text = MISPLACED_TEXT.format(noun=noun)
        return refuse(wrong, text, None, wrong_place=True, detail=clicked.details()), frozenset()
    try:
        held = roles_of(ballot.runbook, user_id, directory, among=list(rule.roles))
    except MembershipUnavailable as error:
        if request.state in REQUEST.open_states and not is_overdue(request.expires_at, now):
            return refuse(
                "membership_unavailable",
                f"I could not check your roles ({esc(error)}), so your vote was not "
                "recorded. Try again shortly.",
                None,
                detail={"detail": str(error)},
            ), frozenset()
        held, unknown = frozenset(), {"detail": str(error)}  # closed anyway: roles unknown
    else:
        unknown = {}
    roles: frozenset[str] | None = None if unknown else held
    if request.state not in REQUEST.open_states:
        why = _CLOSED_WHY.get(RequestState(request.state), "after_decision")
        text = f"This {noun} is already {request.state}; your vote was not counted."
        return refuse(why, text, roles, detail={"state": request.state, **unknown}), held
    if is_overdue(request.expires_at, now):
        assert request.expires_at is not None
        text = (
            f"This {noun} expired at {request.expires_at:%Y-%m-%d %H:%M} UTC; your vote was "
            "not counted."
        )
        return refuse("after_expiry", text, roles, detail=unknown), held
    if not held:
        text = (
            "Only members of "
            + ", ".join(f"*{r}*" for r in rule.roles)
            + f" decide this {noun}; your vote was not counted."
        )
        return refuse("not_eligible", text, held), held
    if decision == "approve" and user_id == request.requested_by and not rule.allow_self_approval:
        text = (
            "You asked for this, so your approval does not count (separation of "
            "duties): another member must approve."
        )
        return refuse("self_approval", text, held), held
    if check_duplicate:
        earlier = earlier_vote(uow, request_id=row_id(request), user_id=user_id)
        if earlier is not None:
            return duplicate_refusal(
                uow, ballot, earlier, user_id=user_id, decision=decision, held=held, now=now,
                action_ts=None,
            ), held  # fmt: skip
    return None, held


def earlier_vote(uow: UnitOfWork, *, request_id: int, user_id: str) -> VoteRecord | None:
    """``user_id``'s vote on the request, from the votes read ahead for the batch if there."""
    known = uow.votes.read_ahead.get(request_id)
    votes = known if known is not None else vote_rows(uow.session, request_id=request_id)
    return next((vote for vote in votes if vote.user_id == user_id), None)


def duplicate_refusal(
    uow: UnitOfWork,
    ballot: Ballot[Any],
    earlier: VoteRecord | None,
    *,
    user_id: str,
    decision: Decision,
    held: frozenset[str],
    now: datetime,
    action_ts: str | None,
) -> Reply:
    """A second vote by someone whose first one stands: recorded as a duplicate, unless it
    is the same click delivered again (the same ``action_ts``)."""
    if earlier is not None and action_ts is not None and earlier.action_ts == action_ts:
        return Reply(False, ALREADY_COUNTED)
    detail: dict[str, object] = {"action_ts": action_ts}
    if earlier is not None:
        detail.update(first_decision=earlier.decision, first_at=earlier.created_at.isoformat())
    return refuse_vote(
        uow, ballot, user_id=user_id, decision=decision, why="duplicate", text=ALREADY_COUNTED,
        held=held, now=now, detail=detail,
    )  # fmt: skip

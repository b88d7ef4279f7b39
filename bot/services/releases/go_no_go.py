"""The go/no-go of a readiness review, as a kind of approval request.

``ReviewService`` opens the request when the last gate is marked and none failed
(``open_go_no_go``). From then on the approval engine counts the votes; this kind says where
the request is discussed (the release thread), and what its decision does: the review's and
the release's verdict (go, no-go, expired: ``bot.core.releases``), the request's message
redrawn without its buttons, and the outcome posted in the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.approvals import ApprovalState, RequestState
from bot.core.releases import (
    RELEASE,
    REVIEW,
    ReviewState,
    release_verdict,
    review_verdict,
)
from bot.core.subjects import release_subject
from bot.core.trail import ACTOR_BOT
from bot.render.contexts import ApprovalStateContext
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.kinds import Ballot
from bot.services.approvals.requests import Join, JoinedRows
from bot.services.due_work import plan_request
from bot.services.outbox.jobs import PostInThread, UpdateRequestMessage
from bot.services.releases.contexts import go_no_go_context
from bot.services.releases.review_rows import ReviewRows, load_review
from bot.services.replies import Reply
from bot.store import UnitOfWork, advance
from bot.store.tables import ApprovalRequest, ReadinessReview, Release, row_id

ACTION = "go_no_go"


@dataclass(frozen=True)
class ReviewOf:
    """The rows a go/no-go belongs to."""

    review: ReadinessReview
    release: Release


class GoNoGo:
    """The go/no-go kind of approval request (``ApprovalKind``)."""

    action: str = ACTION
    noun: str = "go/no-go"
    joins: tuple[Join, ...] = (
        Join(ReadinessReview, ApprovalRequest, "review_id"),
        Join(Release, ReadinessReview, "release_id"),
    )

    def __init__(self, *, runbooks: RunbookRegistry) -> None:
        self.runbooks = runbooks

    def ballot(self, request: ApprovalRequest, rows: JoinedRows) -> Ballot[ReviewOf] | Reply:
        review, release = rows.get(ReadinessReview), rows.get(Release)
        if review is None or release is None or request.review_id is None:
            return Reply(False, "This go/no-go's review no longer exists.")
        runbook = self.runbooks.get(review.runbook_id)
        if runbook is None or runbook.readiness is None:
            return Reply(False, "This review's runbook no longer has a readiness review.")
        return Ballot(
            request=request,
            runbook=runbook,
            rule=runbook.readiness.go_no_go,
            about=ReviewOf(review, release),
            thread_ts=release.thread_ts,
            message_ts=request.message_ts,
            title=f"Go/no-go for {runbook.id} {release.version}",
            prompt=f"Go/no-go for {runbook.id} {esc(release.version)}",
        )

    def reply_in_thread(
        self,
        uow: UnitOfWork,
        ballot: Ballot[ReviewOf],
        *,
        now: datetime,
        template: str | None = None,
        context: ApprovalStateContext | None = None,
        text: str | None = None,
    ) -> None:
        review_id = row_id(ballot.about.review)
        uow.enqueue(
            PostInThread(review_id=review_id, template=template, context=context, text=text),
            now=now,
        )

    def decision_details(self, ballot: Ballot[ReviewOf], *, auto: bool) -> dict[str, Any]:
        return {}

    def close(
        self, uow: UnitOfWork, ballot: Ballot[ReviewOf], state: RequestState, *, now: datetime
    ) -> None:
        verdict = review_verdict(ApprovalState(state.value))
        review, release = ballot.about.review, ballot.about.release
        advance(
            uow.session, model=ReadinessReview, row_id=row_id(review), lifecycle=REVIEW,
            to_state=verdict, from_states=[ReviewState.AWAITING_GO], now=now,
            values={"decided_at": now, "decided_by": ACTOR_BOT},
        )  # fmt: skip
        advance(
            uow.session, model=Release, row_id=row_id(release), lifecycle=RELEASE,
            to_state=release_verdict(verdict), now=now,
        )  # fmt: skip

    def announce(
        self,
        uow: UnitOfWork,
        ballot: Ballot[ReviewOf],
        state: RequestState,
        context: ApprovalStateContext,
        *,
        now: datetime,
    ) -> None:
        # The request keeps what it asked, without its buttons, and points at the outcome
        # posted below (as a rollback's recommendation does): the thread shows it once.
        review_id = row_id(ballot.about.review)
        rows = load_review(uow.session, review_id=review_id, runbooks=self.runbooks)
        if rows is not None:
            runbook, release, review, gates = rows
            request_context = go_no_go_context(runbook, release, review, ballot.request, gates)
            request_context["decision"] = state.value
            uow.enqueue(
                UpdateRequestMessage(
                    request_id=row_id(ballot.request),
                    template="go_no_go_request",
                    context=request_context,
                ),
                now=now,
            )
        self.reply_in_thread(uow, ballot, template="approval_state", context=context, now=now)


def open_go_no_go(uow: UnitOfWork, rows: ReviewRows, *, now: datetime) -> ApprovalRequest:
    """Ask for the go: the review's go/no-go request, its trail event and its message."""
    runbook, release, review, gates = rows
    assert runbook.readiness is not None
    rule = runbook.readiness.go_no_go
    subject = release_subject(runbook.id, release.version)
    request = ApprovalRequest(
        subject=subject,
        action=ACTION,
        review_id=row_id(review),
        roles={role: list(runbook.roles.get(role, [])) for role in rule.roles},
        quorum=rule.required_total,
        requested_by=release.started_by,
        state=RequestState.PENDING.value,
        expires_at=now + rule.expires_after,
        channel_id=review.channel_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(request)
    uow.session.flush()
    assert request.expires_at is not None
    plan_request(
        uow, request_id=row_id(request), expires_at=request.expires_at, escalate_at=None, now=now
    )
    uow.trail(
        kind="go_no_go.requested",
        actor=ACTOR_BOT,
        subject=subject,
        at=now,
        channel_id=review.channel_id,
        thread_ts=release.thread_ts,
        payload={
            "request_id": request.id,
            "roles": dict(rule.roles),
            "quorum": rule.required_total,
            "expires_at": now + rule.expires_after,
        },
    )
    uow.enqueue(
        PostInThread(
            review_id=row_id(review),
            template="go_no_go_request",
            context=go_no_go_context(runbook, release, review, request, gates),
            remember_request=request.id,
        ),
        now=now,
    )
    return request

"""The go/no-go of a readiness review: votes, the decision, expiry.

The request is created by ``ReviewService`` when the last gate is marked; from then on each
Approve or Reject is one unit of work here: check who may vote, record the vote and its trail
event, count with the core, and close the request once when the count decides it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, Select, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session, col, select

from bot.core.approvals import ApprovalOutcome, ApprovalState
from bot.core.runbook import Runbook
from bot.core.trail import ACTOR_BOT
from bot.render.escaping import mrkdwn_text as esc
from bot.services import jobs
from bot.services.approval_flow import count, record_and_count, vote_refusal
from bot.services.ledger import review_bundle, row_id, trail
from bot.services.registry import RunbookRegistry
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory
from bot.services.views import approval_state_context, go_no_go_context
from bot.store import session_scope, transition_state
from bot.store.tables import ApprovalRequest, ReadinessReview, Release
from bot.store.transitions import read_votes_ahead, table_of


def _request_in_statement() -> tuple[Select[Any], list[tuple[type[Any], list[str], int, int]]]:
    # Detached objects built with ``model_construct`` read their attributes through the
    # mapper's instrumentation, which exists only once the mappers are configured.
    configure_mappers()
    requests, reviews, releases = (
        table_of(model) for model in (ApprovalRequest, ReadinessReview, Release)
    )
    parts, start = [], 0
    for model, table in ((ApprovalRequest, requests), (ReadinessReview, reviews),
                         (Release, releases)):  # fmt: skip
        names = [column.name for column in table.c]
        parts.append((model, names, start, start + len(names)))
        start += len(names)
    statement = (
        core_select(*requests.c, *reviews.c, *releases.c)
        .outerjoin(reviews, requests.c.review_id == reviews.c.id)
        .outerjoin(releases, reviews.c.release_id == releases.c.id)
        .with_for_update(of=requests)
    )
    return statement, parts


_REQUESTS_IN, _REQUEST_IN_PARTS = _request_in_statement()
_REQUESTS = table_of(ApprovalRequest)
_REQUEST_IN = _REQUESTS_IN.where(_REQUESTS.c.id == bindparam("request_id"))
# Several at once, in id order (so that writers locking several take them in one order).
_REQUESTS_AMONG = _REQUESTS_IN.where(
    _REQUESTS.c.id.in_(bindparam("request_ids", expanding=True))
).order_by(_REQUESTS.c.id)
PREFETCHED = "releasebot_prefetched_approval_requests"


class GoNoGoService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks

    def check_vote_in(
        self,
        session: Session,
        *,
        directory: GroupDirectory,
        request_id: int,
        user_id: str,
        decision: Literal["approve", "reject"],
        now: datetime,
    ) -> Reply | None:
        """May ``user_id`` vote? A unit of work (``directory`` must not do I/O); refusals are
        recorded in the trail. None when the request is not a go/no-go (a rollback's)."""
        found = self._request_in(session, request_id=request_id)
        if found is None or isinstance(found, Reply):
            return found
        refusal, _ = self._vote_refusal(
            session, found, directory=directory, user_id=user_id, decision=decision, now=now
        )
        return refusal or Reply(True, f"Go/no-go for {found[1].id} {esc(found[2].version)}")

    @staticmethod
    def prefetch_requests(session: Session, request_ids: list[int]) -> None:
        """Read and lock the requests a batch of votes is about, in one statement, and their
        votes in another.

        Each request row is used once: a second vote on the same request in the same batch
        reads it again, and so sees what the first one changed; the votes read ahead are
        kept up to date by the votes of the batch."""
        rows = session.connection().execute(_REQUESTS_AMONG, {"request_ids": request_ids})
        session.info.setdefault(PREFETCHED, {}).update((row.id, row) for row in rows)
        # The rows are locked now, so their votes can be read once and counted in memory.
        read_votes_ahead(session, request_ids=request_ids)

    def _request_in(self, session: Session, *, request_id: int) -> Reply | tuple[Any, ...] | None:
        """The request with its review, release and runbook, in one query (the click path).

        The request's row stays locked until the vote commits (``FOR UPDATE`` on PostgreSQL;
        SQLite has one writer anyway), so that two votes cast at once are counted one after
        the other and the second sees the first. The rows are read with Core and become
        detached model objects: this is on every click, and ORM loading costs more than the
        rest of the vote.
        """
        row = session.info.get(PREFETCHED, {}).pop(request_id, None)
        if row is None:  # not read ahead, or already used by an earlier unit of the batch
            row = session.connection().execute(_REQUEST_IN, {"request_id": request_id}).first()
        if row is None:
            return Reply(False, "This approval request no longer exists.")
        if row.action != "go_no_go":
            return None
        if row.review_id is None or row.runbook_id is None:
            return Reply(False, "This go/no-go's review no longer exists.")
        request, review, release = (
            model.model_construct(**dict(zip(names, row[start:end], strict=True)))
            for model, names, start, end in _REQUEST_IN_PARTS
        )
        runbook = self.runbooks.get(review.runbook_id)
        if runbook is None or runbook.readiness is None:
            return Reply(False, "This review's runbook no longer has a readiness review.")
        return request, runbook, release, review, runbook.readiness.go_no_go

    def _vote_refusal(
        self,
        session: Session,
        found: tuple[Any, ...],
        *,
        directory: GroupDirectory,
        user_id: str,
        decision: Literal["approve", "reject"],
        now: datetime,
        check_duplicate: bool = True,
    ) -> tuple[Reply | None, frozenset[str]]:
        request, runbook, release, _, rule = found
        return vote_refusal(
            session,
            runbook=runbook,
            rule=rule,
            request=request,
            user_id=user_id,
            decision=decision,
            directory=directory,
            now=now,
            thread_ts=release.thread_ts,
            what="go/no-go",
            check_duplicate=check_duplicate,
        )

    def vote_in(
        self,
        session: Session,
        *,
        directory: GroupDirectory,
        request_id: int,
        user_id: str,
        decision: Literal["approve", "reject"],
        now: datetime,
        reason: str | None = None,
        action_ts: str | None = None,
    ) -> Reply | None:
        """Record and count a vote, as a unit of work (``directory`` must not do I/O); None
        when the request is not a go/no-go (a rollback's: ``RollbackDecisions`` counts it)."""
        found = self._request_in(session, request_id=request_id)
        if found is None or isinstance(found, Reply):
            return found
        # a repeat vote is caught by the vote's unique key: no need to read the votes first
        refusal, held = self._vote_refusal(
            session,
            found,
            directory=directory,
            user_id=user_id,
            decision=decision,
            now=now,
            check_duplicate=False,
        )
        if refusal is not None:
            return refusal
        request, runbook, release, review, rule = found
        outcome = record_and_count(
            session,
            rule=rule,
            request=request,
            user_id=user_id,
            held=held,
            decision=decision,
            now=now,
            reason=reason,
            thread_ts=release.thread_ts,
            action_ts=action_ts,
        )
        if outcome is None:
            return Reply(False, "Your vote was already counted; it counts once.")
        context = _state_context(runbook, release, request, outcome, now)
        if outcome.state is ApprovalState.PENDING:
            jobs.post_in_thread(
                session,
                review_id=row_id(review),
                template="approval_state",
                context=context,
                now=now,
            )
        else:
            self._decide(
                session,
                request=request,
                review=review,
                release=release,
                state=str(outcome.state),
                context=context,
                now=now,
            )
        verb = "Approval" if decision == "approve" else "Rejection"
        return Reply(True, f"{verb} recorded.")

    def _decide(
        self,
        session: Session,
        *,
        request: ApprovalRequest,
        review: ReadinessReview,
        release: Release,
        state: str,
        context: dict[str, object],
        now: datetime,
    ) -> None:
        """Close the request once (conditionally), record and announce the outcome."""
        if not transition_state(
            session,
            model=ApprovalRequest,
            row_id=row_id(request),
            from_states="pending",
            to_state=state,
            now=now,
            values={"decided_at": now},
        ):
            return
        verdict = {"approved": "go", "rejected": "no_go", "expired": "expired"}[state]
        transition_state(
            session,
            model=ReadinessReview,
            row_id=row_id(review),
            from_states="awaiting_go",
            to_state=verdict,
            now=now,
            values={"decided_at": now, "decided_by": ACTOR_BOT},
        )
        transition_state(
            session,
            model=Release,
            row_id=row_id(release),
            from_states="reviewing",
            to_state=verdict,
            now=now,
        )
        trail(
            session,
            kind=f"go_no_go.{state}",
            actor=ACTOR_BOT,
            subject=request.subject,
            at=now,
            channel_id=request.channel_id,
            thread_ts=release.thread_ts,
            message_ts=request.message_ts,
            payload={
                "request_id": request.id,
                "votes": context.get("votes"),
                "ignored": context.get("ignored"),
            },
        )
        # The request keeps what it asked, without its buttons, and points at the outcome
        # posted below (as a rollback's recommendation does): the thread shows it once.
        bundle = review_bundle(session, review_id=row_id(review), runbooks=self.runbooks)
        if bundle is not None:
            runbook, _, _, states = bundle
            jobs.update_request_message(
                session,
                request_id=row_id(request),
                template="go_no_go_request",
                context={
                    **go_no_go_context(runbook, release, review, request, states),
                    "decision": state,
                },
                now=now,
            )
        jobs.post_in_thread(
            session,
            review_id=row_id(review),
            template="approval_state",
            context=context,
            now=now,
        )

    def expire_due(self, *, now: datetime) -> int:
        """Expire every go/no-go still pending past its expiry; returns how many."""
        with session_scope(self.engine) as session:
            overdue = session.exec(
                select(ApprovalRequest).where(
                    ApprovalRequest.state == "pending",
                    ApprovalRequest.action == "go_no_go",
                    col(ApprovalRequest.expires_at) <= now,
                )
            ).all()
            ids = [row_id(request) for request in overdue]
        return sum(self.expire(request_id=request_id, now=now) for request_id in ids)

    def expire(self, *, request_id: int, now: datetime) -> bool:
        with session_scope(self.engine) as session:
            request = session.get(ApprovalRequest, request_id)
            if request is None or request.state != "pending" or request.review_id is None:
                return False
            if request.expires_at is None or request.expires_at > now:
                return False
            bundle = review_bundle(session, review_id=request.review_id, runbooks=self.runbooks)
            if bundle is None or bundle[0].readiness is None:
                return False
            runbook, release, review, _ = bundle
            assert runbook.readiness is not None
            outcome = count(session, rule=runbook.readiness.go_no_go, request=request, now=now)
            context = _state_context(runbook, release, request, outcome, now)
            self._decide(
                session,
                request=request,
                review=review,
                release=release,
                state=str(outcome.state),
                context=context,
                now=now,
            )
            return outcome.state is ApprovalState.EXPIRED


def _state_context(
    runbook: Runbook,
    release: Release,
    request: ApprovalRequest,
    outcome: ApprovalOutcome,
    now: datetime,
) -> dict[str, Any]:
    """What the approval_state message shows of this go/no-go."""
    return approval_state_context(
        runbook,
        request,
        outcome,
        kind="go_no_go",
        now=now,
        subject_text=f"Go/no-go for {runbook.id} {release.version}",
    )

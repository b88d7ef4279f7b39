"""One approval engine for every kind of request: votes, the decision, expiry, escalation.

The buttons (Approve, Reject) carry only the request's id, accepted only from the message the
request was posted in (``bot.services.approvals.clicks``). A vote is one unit of work: read
the request with its kind's rows (one locked statement, ``RequestReader``), check who may
vote (every refusal is a trail event: ``bot.services.approvals.refusals``), record the vote
and its trail event, count with the core, and close the request once
(a conditional state change) when the count decides it; what the decision means for the
thing decided is the kind's (``bot.services.approvals.kinds``). With a ``GroupCommitter`` a
vote shares its transaction with the clicks queued beside it, and user-group look-ups happen
outside it (``resolving_groups``).

Time: a request expires at the deadline stored when it was opened (``expires_at``), so a
runbook changed since then never leaves an overdue request undecidable; the sweep expires
every overdue request, and one that fails is logged and skipped, never stopping the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from bot.core.approvals import (
    REQUEST,
    ApprovalOutcome,
    ApprovalState,
    Decision,
    RequestState,
    decided_state,
    escalation_roles,
    is_overdue,
)
from bot.core.trail import ACTOR_BOT
from bot.render.contexts import ApprovalStateContext
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.ballots import count, record_and_count
from bot.services.approvals.clicks import Clicked
from bot.services.approvals.contexts import approval_state_context
from bot.services.approvals.kinds import ApprovalKind, Ballot
from bot.services.approvals.refusals import (
    duplicate_refusal,
    earlier_vote,
    vote_refusal,
)
from bot.services.approvals.requests import APPROVAL_REQUEST, RequestReader
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, mentions, resolving_groups
from bot.store import UnitOfWork, advance, read_connection
from bot.store.tables import ApprovalRequest, row_id
from bot.store.transitions import table_of
from bot.store.units import DirectUnits, UnitRunner, with_prefetch

log = logging.getLogger(__name__)
_REQUESTS = table_of(ApprovalRequest)


class ApprovalEngine:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        kinds: Sequence[ApprovalKind[Any]],
        directory: GroupDirectory,
        units: UnitRunner | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.kinds = {kind.action: kind for kind in kinds}
        self.directory = directory
        self.units = units if units is not None else DirectUnits(engine)
        self.reader = RequestReader(join for kind in kinds for join in kind.joins)

    # --- clicks -----------------------------------------------------------------------------

    def vote(
        self,
        *,
        request_id: int,
        user_id: str,
        decision: Decision,
        now: datetime,
        reason: str | None = None,
        action_ts: str | None = None,
        clicked: Clicked | None = None,
    ) -> Reply:
        """Record ``user_id``'s vote and count it; refusals are recorded in the trail.

        ``clicked``: where the click came from (``bot.services.approvals.clicks``)."""

        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                found = self.clicked_ballot(uow, request_id, user_id, decision, now=now)
                if isinstance(found, Reply):
                    return found
                kind = self.kinds[found.request.action]
                # a repeat vote is caught by the vote's unique key: no need to read votes first
                refusal, held = vote_refusal(
                    uow, found, noun=kind.noun, user_id=user_id, decision=decision,
                    directory=groups, now=now, check_duplicate=False, clicked=clicked,
                )  # fmt: skip
                if refusal is not None:
                    self.close_if_overdue(uow, found, now=now)
                    return refusal
                outcome = record_and_count(
                    uow, found, user_id=user_id, held=held, decision=decision, now=now,
                    reason=reason, action_ts=action_ts,
                )  # fmt: skip
                if outcome is None:
                    earlier = earlier_vote(uow, request_id=request_id, user_id=user_id)
                    return duplicate_refusal(
                        uow, found, earlier, user_id=user_id, decision=decision, held=held,
                        now=now, action_ts=action_ts,
                    )  # fmt: skip
                context = self.context(found, outcome, now=now)
                if outcome.state is ApprovalState.PENDING:
                    kind.reply_in_thread(uow, found, template="approval_state", context=context,
                                         now=now)  # fmt: skip
                else:
                    self.decide(uow, found, decided_state(outcome.state), context, now=now)
                return Reply(True, ("Approval" if decision == "approve" else "Rejection")
                             + " recorded.")  # fmt: skip

            return self.units.run(with_prefetch(unit, APPROVAL_REQUEST, request_id))

        return resolving_groups(self.directory, attempt)

    def check_vote(
        self,
        *,
        request_id: int,
        user_id: str,
        decision: Decision,
        now: datetime,
        clicked: Clicked | None = None,
    ) -> Reply:
        """May ``user_id`` vote on this request (before asking a Reject's reason)? A refusal
        is recorded in the trail; a yes names the request (``Ballot.prompt``)."""

        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                found = self.clicked_ballot(uow, request_id, user_id, decision, now=now)
                if isinstance(found, Reply):
                    return found
                refusal, _ = vote_refusal(
                    uow, found, noun=self.kinds[found.request.action].noun, user_id=user_id,
                    decision=decision, directory=groups, now=now, clicked=clicked,
                )  # fmt: skip
                if refusal is not None:
                    self.close_if_overdue(uow, found, now=now)
                return refusal or Reply(True, found.prompt)

            return self.units.run(with_prefetch(unit, APPROVAL_REQUEST, request_id))

        return resolving_groups(self.directory, attempt)

    def clicked_ballot(
        self, uow: UnitOfWork, request_id: int, user_id: str, decision: Decision, *,
        now: datetime,
    ) -> Ballot[Any] | Reply:  # fmt: skip
        """``ballot`` for a click: a request whose policy or rows are gone refuses the vote,
        recorded on its subject (a request that does not exist has no subject: only told)."""
        found = self.ballot(uow, request_id)
        if not isinstance(found, Reply):
            return found
        request = uow.session.get(ApprovalRequest, request_id)  # rare: read it again
        if request is None or request.action not in self.kinds:
            log.info("a vote on approval request %s, which does not exist", request_id)
            return found
        uow.trail(
            kind="approval.refused", actor=user_id, subject=request.subject, at=now,
            channel_id=request.channel_id, message_ts=request.message_ts,
            payload={"request_id": request.id, "decision": decision, "why": "policy_gone",
                     "roles_held": None, "detail": found.text},
        )  # fmt: skip
        return found

    def close_if_overdue(self, uow: UnitOfWork, ballot: Ballot[Any], *, now: datetime) -> None:
        """A click refused past the deadline closes the request there and then (what its
        timer would do a moment later; ``decide`` is conditional, so only one of them does)."""
        if ballot.state in REQUEST.open_states and is_overdue(ballot.request.expires_at, now):
            outcome = count(uow, ballot, now=now)
            context = self.context(ballot, outcome, now=now)
            self.decide(uow, ballot, decided_state(outcome.state), context, now=now)

    def prefetch(self, uow: UnitOfWork, request_ids: list[int]) -> None:
        """Read a batch's requests (and their votes) ahead: ``GroupCommitter.prefetch``."""
        self.reader.read_ahead(uow, request_ids)

    # --- inside a unit of work: for the kinds' own actions (hold, auto-execution) -----------

    def ballot(self, uow: UnitOfWork, request_id: int) -> Ballot[Any] | Reply:
        """The request as its kind reads it, locked until the unit commits."""
        rows = self.reader.read(uow, request_id)
        if rows is None or rows.request.action not in self.kinds:
            return Reply(False, "This approval request no longer exists.")
        return self.kinds[rows.request.action].ballot(rows.request, rows)

    def context(
        self, ballot: Ballot[Any], outcome: ApprovalOutcome, *, now: datetime
    ) -> ApprovalStateContext:
        """What the ``approval_state`` message shows of ``ballot`` with this count."""
        return approval_state_context(
            ballot.runbook, ballot.request, outcome, kind=ballot.request.action,
            subject_text=ballot.title, now=now,
        )  # fmt: skip

    def count(self, uow: UnitOfWork, ballot: Ballot[Any], *, now: datetime) -> ApprovalOutcome:
        return count(uow, ballot, now=now)

    def decide(
        self,
        uow: UnitOfWork,
        ballot: Ballot[Any],
        state: RequestState,
        context: ApprovalStateContext,
        *,
        now: datetime,
        auto: bool = False,
    ) -> bool:
        """Close the request in ``state`` once (conditionally), record it in the trail and let
        its kind carry the decision out; False when it was already closed."""
        request = ballot.request
        kind = self.kinds[request.action]
        if not advance(
            uow.session, model=ApprovalRequest, row_id=row_id(request), lifecycle=REQUEST,
            to_state=state, now=now, values={"decided_at": now},
        ):  # fmt: skip
            return False
        kind.close(uow, ballot, state, now=now)
        uow.trail(
            kind=f"{kind.action}.{state.value}",
            actor=ACTOR_BOT,
            subject=request.subject,
            at=now,
            channel_id=request.channel_id,
            thread_ts=ballot.thread_ts,
            message_ts=ballot.message_ts,
            payload={
                "request_id": request.id,
                **kind.decision_details(ballot, auto=auto),
                "votes": context["votes"],
                "ignored": context["ignored"],
            },
        )
        kind.announce(uow, ballot, state, context, now=now)
        return True

    # --- time ---------------------------------------------------------------------------------

    def expire(self, *, request_id: int, now: datetime) -> bool:
        """Close a request whose stored deadline has passed: expired, or what its votes
        decided before the deadline if that was never recorded. True when it expired."""

        def unit(uow: UnitOfWork) -> bool:
            found = self.ballot(uow, request_id)
            if isinstance(found, Reply) or found.state not in REQUEST.open_states:
                return False
            if not is_overdue(found.request.expires_at, now):
                return False
            outcome = count(uow, found, now=now)  # never pending at or past the deadline
            decided = self.decide(
                uow, found, decided_state(outcome.state), self.context(found, outcome, now=now),
                now=now,
            )  # fmt: skip
            return decided and outcome.state is ApprovalState.EXPIRED

        return self.units.run(unit)

    def expire_due(self, *, now: datetime) -> int:
        """Expire every request still open past its deadline (the sweep); how many expired.

        Each is expired in its own unit of work: one that fails is logged and skipped.
        """
        with read_connection(self.engine) as connection:
            overdue = connection.execute(
                select(_REQUESTS.c.id)
                .where(
                    _REQUESTS.c.action.in_(list(self.kinds)),
                    _REQUESTS.c.state.in_([str(s) for s in REQUEST.open_states]),
                    _REQUESTS.c.expires_at <= now,
                )
                .order_by(_REQUESTS.c.id)
            ).scalars()
            request_ids = list(overdue)
        expired = 0
        for request_id in request_ids:
            try:
                expired += self.expire(request_id=request_id, now=now)
            except Exception:  # noqa: BLE001 - one bad request must not stop the sweep
                log.exception("expiring approval request %s failed; the sweep goes on", request_id)
        return expired

    def escalate(self, *, request_id: int, now: datetime) -> bool:
        """Still undecided: mention the escalation roles in its conversation."""
        return self.units.run(self.escalating(request_id=request_id, now=now))

    def escalating(self, *, request_id: int, now: datetime) -> Callable[[UnitOfWork], bool]:
        """``escalate`` as a unit of work, for its timer to commit with the timer's completion:
        the timer is unique per (request, due time) and fenced, so the escalation is said
        once per due time, even after a takeover."""

        def unit(uow: UnitOfWork) -> bool:
            found = self.ballot(uow, request_id)
            if isinstance(found, Reply) or found.state not in REQUEST.open_states:
                return False
            kind = self.kinds[found.request.action]
            roles = list(escalation_roles(found.rule))
            uow.trail(
                kind="approval.escalated",
                actor=ACTOR_BOT,
                subject=found.request.subject,
                at=now,
                channel_id=found.request.channel_id,
                thread_ts=found.thread_ts,
                payload={"request_id": request_id, "roles": roles},
            )
            kind.reply_in_thread(
                uow, found, now=now,
                text=f"📣 This {kind.noun} is still waiting for a decision. "
                f"{', '.join(roles)}: {mentions(found.runbook, roles)} please decide.",
            )  # fmt: skip
            return True

        return unit

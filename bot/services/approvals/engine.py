"""Approve and Reject: one entry point for go/no-go and rollback requests alike.

The buttons carry only the request id. Which service counts the vote (``GoNoGoService`` or
``RollbackDecisions``) is found inside the vote's own unit of work: the go/no-go's one read
of the request says whether it is a go/no-go. So a click costs one transaction, and with a
``GroupCommitter`` it shares that transaction with the clicks queued beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from bot.services.releases.go_no_go import GoNoGoService
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, resolving_groups
from bot.services.rollbacks.decisions import RollbackDecisions
from bot.store.units import UnitRunner, with_prefetch

Decision = Literal["approve", "reject"]
APPROVAL_REQUEST = "approval_request"  # what a vote unit reads first (GroupCommitter.prefetch)


class Votes:
    def __init__(
        self,
        *,
        go_no_go: GoNoGoService,
        decisions: RollbackDecisions,
        directory: GroupDirectory,
        units: UnitRunner,
    ) -> None:
        self.go_no_go = go_no_go
        self.decisions = decisions
        self.directory = directory
        self.units = units

    def vote(
        self,
        *,
        request_id: int,
        user_id: str,
        decision: Decision,
        now: datetime,
        reason: str | None = None,
        action_ts: str | None = None,
    ) -> Reply:
        """Record ``user_id``'s vote and count it; refusals are recorded in the trail."""
        return self._run(
            request_id, self.go_no_go.vote_in, self.decisions.vote_in,
            user_id=user_id, decision=decision, now=now, reason=reason, action_ts=action_ts,
        )  # fmt: skip

    def check_vote(
        self, *, request_id: int, user_id: str, decision: Decision, now: datetime
    ) -> Reply:
        """May ``user_id`` vote on this request (before asking a Reject's reason)?"""
        return self._run(
            request_id, self.go_no_go.check_vote_in, self.decisions.check_vote_in,
            user_id=user_id, decision=decision, now=now,
        )  # fmt: skip

    def _run(
        self,
        request_id: int,
        go_no_go: Callable[..., Reply | None],
        rollback: Callable[..., Reply],
        **arguments: Any,
    ) -> Reply:
        """One unit of work: the go/no-go service answers, or says the request is a
        rollback's (None) and ``RollbackDecisions`` does; group look-ups happen outside it."""

        def attempt(groups: GroupDirectory) -> Reply:
            def unit(session: Session) -> Reply:
                given = {"directory": groups, "request_id": request_id, **arguments}
                reply = go_no_go(session, **given)
                return reply if reply is not None else rollback(session, **given)

            return self.units.run(with_prefetch(unit, APPROVAL_REQUEST, request_id))

        return resolving_groups(self.directory, attempt)

"""Approve and Reject: one entry point for go/no-go and rollback requests alike.

The buttons carry only the request id. Which service counts the vote (``GoNoGoService`` or
``RollbackDecisions``) is found inside the vote's own unit of work: the go/no-go's one read
of the request says whether it is a go/no-go. So a click costs one transaction, and with a
``GroupCommitter`` it shares that transaction with the clicks queued beside it.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Literal

from sqlmodel import Session

from bot.services.go_no_go import GoNoGoService
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, resolving_groups
from bot.services.rollback_decisions import RollbackDecisions
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
        return resolving_groups(
            self.directory,
            lambda groups: self.units.run(
                with_prefetch(
                    partial(
                        self._vote_in,
                        directory=groups,
                        request_id=request_id,
                        user_id=user_id,
                        decision=decision,
                        now=now,
                        reason=reason,
                        action_ts=action_ts,
                    ),
                    APPROVAL_REQUEST,
                    request_id,
                )
            ),
        )

    def check_vote(
        self, *, request_id: int, user_id: str, decision: Decision, now: datetime
    ) -> Reply:
        """May ``user_id`` vote on this request (before asking a Reject's reason)?"""
        return resolving_groups(
            self.directory,
            lambda groups: self.units.run(
                partial(
                    self._check_in,
                    directory=groups,
                    request_id=request_id,
                    user_id=user_id,
                    decision=decision,
                    now=now,
                )
            ),
        )

    def _vote_in(
        self,
        session: Session,
        *,
        directory: GroupDirectory,
        request_id: int,
        user_id: str,
        decision: Decision,
        now: datetime,
        reason: str | None,
        action_ts: str | None,
    ) -> Reply:
        reply = self.go_no_go.vote_in(
            session, directory=directory, request_id=request_id, user_id=user_id,
            decision=decision, now=now, reason=reason, action_ts=action_ts,
        )  # fmt: skip
        if reply is not None:
            return reply
        return self.decisions.vote_in(
            session, directory=directory, request_id=request_id, user_id=user_id,
            decision=decision, now=now, reason=reason, action_ts=action_ts,
        )  # fmt: skip

    def _check_in(
        self,
        session: Session,
        *,
        directory: GroupDirectory,
        request_id: int,
        user_id: str,
        decision: Decision,
        now: datetime,
    ) -> Reply:
        reply = self.go_no_go.check_vote_in(
            session, directory=directory, request_id=request_id, user_id=user_id,
            decision=decision, now=now,
        )  # fmt: skip
        if reply is not None:
            return reply
        return self.decisions.check_vote_in(
            session, directory=directory, request_id=request_id, user_id=user_id,
            decision=decision, now=now,
        )  # fmt: skip

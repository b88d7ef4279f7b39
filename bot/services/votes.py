"""Approve and Reject: one entry point for go/no-go and rollback requests alike.

The buttons carry only the request id. Which service counts the vote (``GoNoGoService`` or
``RollbackDecisions``) is read inside the vote's own unit of work, so a click costs one
transaction, and with a ``GroupCommitter`` it shares that transaction with the clicks
queued beside it.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Literal

from sqlalchemy import bindparam, select
from sqlmodel import Session

from bot.services.go_no_go import GoNoGoService
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, resolving_groups
from bot.services.rollback_decisions import RollbackDecisions
from bot.store.tables import ApprovalRequest
from bot.store.transitions import table_of
from bot.store.units import UnitRunner

Decision = Literal["approve", "reject"]
_REQUESTS = table_of(ApprovalRequest)
_ACTION_OF = select(_REQUESTS.c.action).where(_REQUESTS.c.id == bindparam("request_id"))


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
                partial(
                    self._vote_in,
                    directory=groups,
                    request_id=request_id,
                    user_id=user_id,
                    decision=decision,
                    now=now,
                    reason=reason,
                    action_ts=action_ts,
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

    def _voter(self, session: Session, request_id: int) -> GoNoGoService | RollbackDecisions:
        action = session.connection().execute(_ACTION_OF, {"request_id": request_id}).scalar()
        return self.decisions if action == "rollback" else self.go_no_go

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
        return self._voter(session, request_id).vote_in(
            session,
            directory=directory,
            request_id=request_id,
            user_id=user_id,
            decision=decision,
            now=now,
            reason=reason,
            action_ts=action_ts,
        )

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
        return self._voter(session, request_id).check_vote_in(
            session,
            directory=directory,
            request_id=request_id,
            user_id=user_id,
            decision=decision,
            now=now,
        )

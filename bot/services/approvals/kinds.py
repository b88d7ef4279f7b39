"""What one kind of approval request tells the engine: the small policy where kinds differ.

The engine (``bot.services.approvals.engine``) does what every approval request shares: read
the request (locked), check who may vote, record the vote and count it with the core, close
the request once when the count decides it, expire it at its stored deadline, escalate it.
A kind (``ApprovalRequest.action``) says only what differs:

- ``joins``: the rows a request of this kind hangs from, read in the same statement as the
  request (the click path reads one row per vote);
- ``ballot``: from those rows, the runbook, the rule and where the request is discussed;
- ``reply_in_thread``: how to post in the request's conversation;
- ``close``: what the decision does to the thing decided (a review's verdict, a
  recommendation's state), and ``announce``: the messages and work that follow it.

A new kind (a drill's, say) is one class with these members, registered with the engine in
``bot.bootstrap``; nothing in the engine changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from bot.core.approvals import RequestState
from bot.core.runbook import ApprovalRule, Runbook
from bot.render.contexts import ApprovalStateContext
from bot.services.approvals.requests import Join, JoinedRows
from bot.services.replies import Reply
from bot.store import UnitOfWork
from bot.store.tables import ApprovalRequest

A = TypeVar("A")


@dataclass(frozen=True)
class Ballot(Generic[A]):
    """An approval request with what deciding it needs.

    ``about`` holds the kind's own rows; ``thread_ts`` is the conversation's thread and
    ``message_ts`` the message a decision's trail event points at; ``title`` names what is
    decided (``Go/no-go for ranking-model v2.4.0``) and ``prompt`` is how a check that lets
    the person vote names it (the reason form's subject).
    """

    request: ApprovalRequest
    runbook: Runbook
    rule: ApprovalRule
    about: A
    thread_ts: str | None
    message_ts: str | None
    title: str
    prompt: str

    @property
    def state(self) -> RequestState:
        return RequestState(self.request.state)


class ApprovalKind(Protocol[A]):
    action: str  # ApprovalRequest.action of this kind's requests
    noun: str  # what people call it: "go/no-go", "rollback"
    joins: tuple[Join, ...]

    def ballot(self, request: ApprovalRequest, rows: JoinedRows) -> Ballot[A] | Reply:
        """The ballot, or why nobody can vote on it any more (its rows or policy are gone)."""
        ...

    def reply_in_thread(
        self,
        uow: UnitOfWork,
        ballot: Ballot[A],
        *,
        now: datetime,
        template: str | None = None,
        context: ApprovalStateContext | None = None,
        text: str | None = None,
    ) -> None:
        """Queue a message in the request's conversation (a template's, or plain text)."""
        ...

    def decision_details(self, ballot: Ballot[A], *, auto: bool) -> dict[str, Any]:
        """What the decision's trail event records beside the request and the votes."""
        ...

    def close(
        self, uow: UnitOfWork, ballot: Ballot[A], state: RequestState, *, now: datetime
    ) -> None:
        """The request was just closed in ``state``: move what it decided (conditionally)."""
        ...

    def announce(
        self,
        uow: UnitOfWork,
        ballot: Ballot[A],
        state: RequestState,
        context: ApprovalStateContext,
        *,
        now: datetime,
    ) -> None:
        """Queue the messages (and any work) that follow the decision."""
        ...

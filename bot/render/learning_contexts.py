"""The learning loop's template contexts (issue 18): the App Home's rollback approvals,
journal entry, figures and action items, and the post-mortem's prompt and form.
``bot.render.contexts`` re-exports them and maps the templates to them (``CONTEXTS``)."""

from __future__ import annotations

from typing import TypedDict

from bot.render.context_base import RunbookRef, SlackWhere, When


class HomeRollbackApproval(SlackWhere):
    """A pending rollback the person may vote on; ``roles`` are the approving roles they hold."""

    runbook: RunbookRef
    rollback: str
    path_title: str
    roles: list[str]
    still_needed: int
    quorum: int
    expires_at: When


class HomeFigure(TypedDict):
    """A process-health figure of the team: the last 30 days and the 30 before, as text."""

    figure: str
    current: str
    previous: str


class HomeJournalEntry(TypedDict):
    """The latest rollback journal entry: expected against actual outcome."""

    subject: str
    runbook_id: str
    path: str
    expected: str
    actual: str


class PostmortemPromptContext(TypedDict):
    """The thread's invitation to write (or add to) a blameless post-mortem of ``subject``."""

    subject: str
    runbook: RunbookRef
    roles: list[str]
    existing: bool


class PostmortemModalContext(TypedDict):
    """The post-mortem form, pre-filled from the trail: roles and decisions, no names."""

    subject: str
    runbook_id: str
    existing: bool
    timeline: list[str]
    arithmetic: str
    votes: list[str]
    validation: str
    draft: str
    slots: list[int]


class HomeActionItem(TypedDict):
    """An open post-mortem action item the person owns."""

    subject: str
    item: str
    text: str
    due: str | None

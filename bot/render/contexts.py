"""The context each template expects: plain dicts, typed here as TypedDicts.

The context builders (``bot.services.*.contexts``, ``home_items``) return these types, so mypy
checks what they build; ``tests/render/test_contexts.py`` checks every template against its
type (each name a template reads is a key here) and the previews' contexts, built by those
builders, against the types (every key, no other, of the type given). ``CONTEXTS`` maps each
template to its type.

Conventions for every template:
- Every key listed is present (templates use StrictUndefined); "absent" is ``None``.
- User ids (``U…``/``W…``) and user-group ids (``S…``) are rendered as mentions; anything else
  given where an id is expected is shown as escaped text.
- Times are timezone-aware ``datetime`` values (ISO-8601 text and epoch seconds also work);
  they are shown with ``<!date^…>`` so each reader sees their own time zone.
- Durations shown to people are seconds (numbers) or pre-formatted text such as ``"5m"``.
- ``runbook`` is always a :class:`RunbookRef`; ``title`` falls back to the id.
- Keys never shadow dict methods (``values``, ``items``, ``keys``...): templates read
  ``row.key`` and Jinja would find the method first.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from bot.render import learning_contexts as learning
from bot.render.context_base import RunbookRef, SlackWhere, When
from bot.render.drill_contexts import DrillRef as DrillRef
from bot.render.drill_contexts import DrillReportContext as DrillReportContext
from bot.render.drill_contexts import DrillStartContext as DrillStartContext
from bot.render.drill_contexts import HomeDrills
from bot.render.drill_contexts import Participant as Participant

__all__ = ["RunbookRef", "SlackWhere", "When"]  # and the types defined below

GateStatus = Literal["open", "passed", "failed", "waived"]


class ApprovalRuleView(TypedDict):
    """Who decides: minimum approvals per role, total quorum, the rule's limits."""

    roles: dict[str, int]
    quorum: int
    role_members: dict[str, list[str]]
    reject_blocks: bool
    allow_self_approval: bool


class GateRow(TypedDict):
    id: str
    title: str
    owner_role: str
    owner_members: list[str]
    status: GateStatus
    marked_by: str | None
    marked_at: When
    reason: str | None
    evidence: str | None  # the runbook's hint of what evidence to attach
    evidence_url: str | None  # the link given when the gate was marked
    proposal: Literal["pass", "fail"] | None  # a self-checking gate's: what the bot proposes
    check: str | None  # a self-checking gate's evidence for its proposal (or why it has none)


class StageRow(TypedDict):
    id: str
    title: str
    gates: list[GateRow]


class GateCounts(TypedDict):
    passed: int
    failed: int
    waived: int
    open: int


class ReadinessChecklistContext(TypedDict):
    """The checklist message of a readiness review; open gates get Pass/Fail/Waive."""
    runbook: RunbookRef
    review_id: str
    release_version: str
    started_by: str | None
    started_at: When
    stages: list[StageRow]
    go_no_go: ApprovalRuleView


class GateUpdateContext(TypedDict):
    """A thread reply: ``actor`` marked ``gate`` as ``status``, with ``reason``."""
    runbook: RunbookRef
    review_id: str
    release_version: str
    stage_title: str
    gate: GateRow
    status: GateStatus
    actor: str
    at: When
    reason: str | None
    counts: GateCounts


class GateException(TypedDict):
    title: str
    status: GateStatus
    reason: str | None
    marked_by: str | None


class GoNoGoRequestContext(TypedDict):
    """Asks the go/no-go roles to Approve or Reject a release."""

    runbook: RunbookRef
    review_id: str
    request_id: str
    release_version: str
    requested_by: str | None
    requested_at: When
    expires_at: When
    counts: GateCounts
    exceptions: list[GateException]  # failed and waived gates, with their reasons
    approval: ApprovalRuleView
    decision: str | None  # once decided (approved, rejected, expired): no buttons


class CriterionView(TypedDict):
    metric: str
    direction: Literal["above", "below"]
    threshold: float
    margin: float
    breach_point: float
    clear_point: float
    sustain: str  # "3 samples" or "5m"
    state: Literal["breach", "clear", "insufficient_data"]
    latest: float | None
    recent_values: list[float]  # the samples that led to the state, oldest first
    explanation: str


class TrackRecord(TypedDict):
    """Past outcomes of a path (``dataclasses.asdict`` of ``bot.core.impact.PathRecord``)."""

    uses: int
    recovered: int
    median_minutes_to_recover: float | None
    drill_uses: int
    drill_recovered: int
    lesson: str | None


class PathView(TypedDict):
    """A rollback path as ranked by ``bot.core.impact.recommend``."""

    id: str
    title: str
    kind: str
    covers: str
    adequate: bool  # covers the severity and addresses every breached metric
    score: float
    arithmetic: str  # "revenue 1×0.5 + customer 1×0.3 + regulatory 0×0.2 = 0.80"
    reason: str  # why it is recommended, or why it ranks below
    track_record: TrackRecord | None


class AutoExecuteView(TypedDict):
    at: When
    minutes: int


class RollbackRecommendationContext(TypedDict):
    """What breached, the proportionate path and why, the ranked alternatives, who approves."""

    runbook: RunbookRef
    request_id: str
    drill: bool
    severity: str
    detected_at: When
    requested_by: str | None  # None when monitoring raised it
    criteria: list[CriterionView]
    recommended: PathView
    alternatives: list[PathView]  # best first
    approval: ApprovalRuleView
    expires_at: When
    auto_execute: AutoExecuteView | None  # a Hold button when set
    decision: str | None  # once decided (approved, rejected, expired...): no buttons


class VoteView(TypedDict):
    user: str
    decision: Literal["approve", "reject"]
    roles: list[str]
    at: When


class IgnoredVoteView(TypedDict):
    user: str
    decision: str
    at: When
    why: str


class MissingRole(TypedDict):
    role: str
    needed: int


class ApprovalStateContext(TypedDict):
    """Votes counted, votes ignored and why, what is still missing, the state."""

    runbook: RunbookRef
    request_id: str
    kind: str  # the request's kind: go_no_go, rollback (ApprovalRequest.action)
    subject: str
    trail_subject: str  # e.g. rollback:42: its web page is linked when there are pages
    state: str  # what the votes say: a bot.core.approvals.ApprovalState
    votes: list[VoteView]
    ignored: list[IgnoredVoteView]
    missing: list[MissingRole]
    still_needed: int
    quorum: int
    updated_at: When


class PathRef(TypedDict):
    id: str
    title: str


class ExecutorView(TypedDict):
    type: Literal["webhook", "command", "dry-run"]
    target: str  # the URL, the command line or the dry-run note


class ExecutionResultContext(TypedDict):
    runbook: RunbookRef
    request_id: str
    drill: bool
    path: PathRef
    executor: ExecutorView
    outcome: Literal["succeeded", "failed", "timed_out", "dry_run"]
    started_at: When
    finished_at: When
    duration_seconds: float
    attempts: int
    approved_by: list[str]
    output_excerpt: str | None


class SampleView(TypedDict):
    at: When
    value: float


class ValidationResultContext(TypedDict):
    """After execution: did the metric recover; Endorse for the endorsing role."""
    runbook: RunbookRef
    request_id: str
    drill: bool
    path: PathRef
    metric: str
    evidence: str | None  # how the criterion judged the window (a query's query, raw value)
    window: str
    direction: Literal["above", "below"]
    clear_point: float
    outcome: str  # recovered | not_recovered | insufficient_data (core.rollbacks.ValidationState)
    samples: list[SampleView]
    endorse_role: str
    endorse_members: list[str]
    endorsed_by: str | None
    endorsed_at: When


class ReasonModalContext(TypedDict):
    """The modal asking why: ``action`` is the button pressed, ``metadata`` the ids it carried."""

    action: Literal["pass", "fail", "waive", "reject"]
    subject: str
    metadata: dict[str, str]


class HomeGate(SlackWhere):
    """An open gate the person may mark (they hold ``owner_role``)."""

    runbook: RunbookRef
    release_version: str
    stage_title: str
    gate_id: str
    title: str
    owner_role: str
    evidence: str | None


class HomeApproval(SlackWhere):
    """A pending go/no-go the person may vote on; ``roles`` are the deciding roles they hold."""

    runbook: RunbookRef
    release_version: str
    request_id: str
    roles: list[str]
    requested_by: str | None
    requested_at: When
    expires_at: When
    still_needed: int
    quorum: int


class HomeRelease(SlackWhere):
    """A release in review; ``go_no_go`` is its request's state, None before it is asked."""

    runbook: RunbookRef
    release_version: str
    started_by: str | None
    started_at: When
    counts: GateCounts
    go_no_go: str | None


class HomeDecision(SlackWhere):
    """A decided release: ``outcome`` is ``go``, ``no_go``, ``expired`` or ``cancelled``."""

    runbook: RunbookRef
    release_version: str
    outcome: str
    decided_at: When


class HomeCounts(TypedDict):
    """How many there are in all (the lists are cut to a page)."""

    gates: int
    approvals: int
    active: int


class AppHomeContext(TypedDict):
    """One person's App Home (a ``home`` view): what waits for them, what is under way, and
    what was decided lately. ``unresolved_groups`` are user groups that could not be looked
    up, so the lists may be incomplete."""

    user: str
    updated_at: When
    unresolved_groups: list[str]
    counts: HomeCounts
    gates: list[HomeGate]
    approvals: list[HomeApproval]
    active: list[HomeRelease]
    recent: list[HomeDecision]
    drills: list[HomeDrills]  # each runbook's recent drills and their trend
    rollback_approvals: list[learning.HomeRollbackApproval]
    rollback_approvals_total: int
    journal_latest: learning.HomeJournalEntry | None
    figures: list[learning.HomeFigure]
    action_items: list[learning.HomeActionItem]


CONTEXTS: dict[str, type] = {
    "readiness_checklist": ReadinessChecklistContext,
    "gate_update": GateUpdateContext,
    "go_no_go_request": GoNoGoRequestContext,
    "rollback_recommendation": RollbackRecommendationContext,
    "approval_state": ApprovalStateContext,
    "execution_result": ExecutionResultContext,
    "validation_result": ValidationResultContext,
    "drill_start": DrillStartContext,
    "drill_report": DrillReportContext,
    "reason_modal": ReasonModalContext,
    "app_home": AppHomeContext,
    "postmortem_prompt": learning.PostmortemPromptContext,
    "postmortem_modal": learning.PostmortemModalContext,
}

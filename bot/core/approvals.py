"""Who may approve what: composed quorum, separation of duties, rejects, expiry, escalation.

``evaluate_approval`` is a pure function of the rule, the votes, the requester and two times.
Votes are processed in a canonical order, (at, user_id, decision, roles, reason), so the
order they are passed in never matters; the first terminal state in time wins. Each vote is
checked in this order, and the first matching reason ignores it:

1. ``after_decision``: the request was already approved or rejected by an earlier vote.
2. ``after_expiry``: cast at or after ``requested_at + rule.expires_after``.
3. ``not_eligible``: the voter held none of ``rule.roles`` when voting.
4. ``self_approval``: an Approve by the requester, unless ``rule.allow_self_approval``.
5. ``duplicate``: the same user already cast a vote that counted (approve or reject). A user's
   first counted vote stands; changing one's mind needs a new request. Ignored votes do not
   use up the user's vote, so an ineligible or self-approval vote never shadows a later one.

Rejects: an eligible Reject rejects the request when ``rule.reject_blocks``; otherwise it is
recorded in ``rejections`` and shown, but does not block. The requester's own Reject counts
like anyone's: separation of duties stops a person pushing their own action through, and
stopping it is always the safe direction.

Quorum: each approver counts once, for one role. ``rule.roles`` gives per-role minimums and
``rule.required_total`` the total; approvers are assigned to role slots by a maximum bipartite
matching, so a person in both ``oncall`` and ``release_champion`` fills only one slot, and is
placed wherever the minimums can still be met.

Votes cast after ``now`` have not happened yet and are left out entirely; a vote at ``now``
counts.

Expiry: a request expires at the deadline stored when it was opened (``expires_at``), not at
one recomputed from the rule in force now, so lengthening a runbook's ``expires_after`` never
revives an overdue request: at or after its deadline a request is never pending.

A stored request lives through ``REQUEST``: pending (or held, for an automatic rollback that
someone stopped) until the count decides it, its deadline passes, or new evidence supersedes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from bot.core.lifecycle import Lifecycle
from bot.core.runbook import ApprovalRule

Decision = Literal["approve", "reject"]


class ApprovalState(StrEnum):
    """What the votes say at a moment (the outcome of ``evaluate_approval``)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class RequestState(StrEnum):
    """A stored approval request's state."""

    PENDING = "pending"
    HELD = "held"  # an automatic rollback someone held: it now needs explicit approval
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # the evidence changed before the decision; votes are void


_CLOSED = (
    RequestState.APPROVED,
    RequestState.REJECTED,
    RequestState.EXPIRED,
    RequestState.SUPERSEDED,
)
REQUEST = Lifecycle.of(
    "approval request",
    RequestState.PENDING,
    {RequestState.PENDING: (RequestState.HELD, *_CLOSED), RequestState.HELD: _CLOSED},
)


def decided_state(outcome: ApprovalState) -> RequestState:
    """The state a request is closed in when its count says ``outcome``.

    ``PENDING`` decides nothing: asking is a bug in the caller (a ``ValueError``).
    """
    if outcome is ApprovalState.PENDING:
        raise ValueError("a pending count decides nothing")
    return RequestState(outcome.value)


def is_overdue(expires_at: datetime | None, now: datetime) -> bool:
    """Has the stored deadline passed (a request without one never expires)?"""
    return expires_at is not None and expires_at <= now


class IgnoreReason(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    SELF_APPROVAL = "self_approval"
    DUPLICATE = "duplicate"
    AFTER_DECISION = "after_decision"
    AFTER_EXPIRY = "after_expiry"


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True)
class Vote:
    """One button press. ``roles`` are those the voter held when voting, resolved by the caller."""

    user_id: str
    decision: Decision
    at: datetime
    roles: frozenset[str] = frozenset()
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in ("approve", "reject"):
            raise ValueError(f"a vote is 'approve' or 'reject', not {self.decision!r}")
        _require_aware("a vote's time", self.at)

    def sort_key(self) -> tuple[datetime, str, str, tuple[str, ...], str]:
        return (self.at, self.user_id, self.decision, tuple(sorted(self.roles)), self.reason or "")


@dataclass(frozen=True)
class CountedVote:
    vote: Vote
    role: str


@dataclass(frozen=True)
class IgnoredVote:
    vote: Vote
    reason: IgnoreReason


@dataclass(frozen=True)
class ApprovalOutcome:
    """``missing`` maps role -> approvals still needed from it; ``missing_total`` is the total
    still needed (it can exceed the per-role sum when the quorum is above the minimums)."""

    state: ApprovalState
    decided_at: datetime | None
    counted: tuple[CountedVote, ...]
    rejections: tuple[Vote, ...]
    ignored: tuple[IgnoredVote, ...]
    missing: Mapping[str, int]
    missing_total: int
    expires_at: datetime
    explanation: str


def _match(rule: ApprovalRule, approvers: Sequence[Vote]) -> dict[int, str]:
    """A maximum matching of approvers (by index) to role slots (Kuhn's augmenting paths)."""
    slots = [role for role, minimum in rule.roles.items() for _ in range(minimum)]
    owner: dict[int, int] = {}  # slot index -> approver index

    def augment(approver: int, visited: set[int]) -> bool:
        for slot, role in enumerate(slots):
            if role in approvers[approver].roles and slot not in visited:
                visited.add(slot)
                if slot not in owner or augment(owner[slot], visited):
                    owner[slot] = approver
                    return True
        return False

    for approver in range(len(approvers)):
        augment(approver, set())
    return {approver: slots[slot] for slot, approver in owner.items()}


def _shortfall(rule: ApprovalRule, approvers: Sequence[Vote]) -> tuple[dict[str, int], int]:
    assigned = _match(rule, approvers)
    missing = {
        role: minimum - sum(1 for r in assigned.values() if r == role)
        for role, minimum in rule.roles.items()
    }
    missing = {role: count for role, count in missing.items() if count > 0}
    total = max(rule.required_total - len(approvers), sum(missing.values()))
    return missing, total


def evaluate_approval(
    rule: ApprovalRule,
    votes: Iterable[Vote],
    *,
    requester: str | None,
    requested_at: datetime,
    now: datetime,
    expires_at: datetime | None = None,
) -> ApprovalOutcome:
    """The state of one approval request at ``now``; see the module docstring for the rules.

    ``expires_at`` is the request's stored deadline; without one (a request not yet stored,
    a dry run) it is ``requested_at + rule.expires_after``.
    """
    _require_aware("requested_at", requested_at)
    _require_aware("now", now)
    if expires_at is None:
        expires_at = requested_at + rule.expires_after
    _require_aware("expires_at", expires_at)
    state, decided_at = ApprovalState.PENDING, None
    approvers: list[Vote] = []
    rejections: list[Vote] = []
    ignored: list[IgnoredVote] = []
    voted: set[str] = set()
    for vote in sorted((v for v in votes if v.at <= now), key=Vote.sort_key):
        reason = _ignore_reason(rule, vote, state, expires_at, requester, voted)
        if reason is not None:
            ignored.append(IgnoredVote(vote, reason))
            continue
        voted.add(vote.user_id)
        if vote.decision == "approve":
            approvers.append(vote)
            if _shortfall(rule, approvers)[1] == 0:
                state, decided_at = ApprovalState.APPROVED, vote.at
        else:
            rejections.append(vote)
            if rule.reject_blocks:
                state, decided_at = ApprovalState.REJECTED, vote.at
    if state is ApprovalState.PENDING and now >= expires_at:
        state, decided_at = ApprovalState.EXPIRED, expires_at
    assigned = _match(rule, approvers)
    counted = tuple(
        CountedVote(vote, assigned.get(i) or next(r for r in rule.roles if r in vote.roles))
        for i, vote in enumerate(approvers)
    )
    missing, missing_total = _shortfall(rule, approvers)
    outcome = ApprovalOutcome(
        state=state,
        decided_at=decided_at,
        counted=counted,
        rejections=tuple(rejections),
        ignored=tuple(ignored),
        missing=missing,
        missing_total=missing_total,
        expires_at=expires_at,
        explanation="",
    )
    return replace(outcome, explanation=_explain(rule, outcome))


def _ignore_reason(
    rule: ApprovalRule,
    vote: Vote,
    state: ApprovalState,
    expires_at: datetime,
    requester: str | None,
    voted: set[str],
) -> IgnoreReason | None:
    if state is not ApprovalState.PENDING:
        return IgnoreReason.AFTER_DECISION
    if vote.at >= expires_at:
        return IgnoreReason.AFTER_EXPIRY
    if vote.roles.isdisjoint(rule.roles):
        return IgnoreReason.NOT_ELIGIBLE
    if vote.decision == "approve" and vote.user_id == requester and not rule.allow_self_approval:
        return IgnoreReason.SELF_APPROVAL
    if vote.user_id in voted:
        return IgnoreReason.DUPLICATE
    return None


def escalation_at(rule: ApprovalRule, *, requested_at: datetime) -> datetime | None:
    """When a still-pending request escalates; None when the rule never escalates."""
    delay = rule.escalation_delay
    return None if delay is None else requested_at + delay


def escalation_due(
    rule: ApprovalRule, *, requested_at: datetime, now: datetime, state: ApprovalState
) -> bool:
    """True when the request is still pending at or after ``requested_at + escalate_after``."""
    due = escalation_at(rule, requested_at=requested_at)
    return state is ApprovalState.PENDING and due is not None and now >= due


def escalation_roles(rule: ApprovalRule) -> tuple[str, ...]:
    """Whom to notify on escalation: ``escalate_to``, or else the approving roles again.

    Escalation notifies; it does not make anyone eligible. Only ``rule.roles`` ever count.
    """
    return tuple(rule.escalate_to) if rule.escalate_to else tuple(rule.roles)


_REASON_TEXT = {
    IgnoreReason.NOT_ELIGIBLE: "holds none of {roles}",
    IgnoreReason.SELF_APPROVAL: "requested the action; self-approval is not allowed",
    IgnoreReason.DUPLICATE: "already voted; the first vote stands",
    IgnoreReason.AFTER_DECISION: "voted after the decision",
    IgnoreReason.AFTER_EXPIRY: "voted after the request expired",
}


def _explain(rule: ApprovalRule, outcome: ApprovalOutcome) -> str:
    roles = ", ".join(rule.roles)
    got, total = len(outcome.counted), rule.required_total
    when = outcome.decided_at.isoformat() if outcome.decided_at is not None else ""
    by = ", ".join(f"{c.vote.user_id} as {c.role}" for c in outcome.counted) or "nobody"
    needs = ", ".join(f"{role} ×{count}" for role, count in outcome.missing.items())
    extra = outcome.missing_total - sum(outcome.missing.values())
    if extra:
        needs = ", ".join(filter(None, [needs, f"{extra} more from any of {roles}"]))
    lines = []
    if outcome.state is ApprovalState.APPROVED:
        lines.append(f"Approved at {when}: {got} of {total} approval(s), by {by}.")
    elif outcome.state is ApprovalState.REJECTED:
        reject = outcome.rejections[-1]
        said = f': "{reject.reason}"' if reject.reason else ""
        lines.append(f"Rejected at {when} by {reject.user_id}{said}.")
    elif outcome.state is ApprovalState.EXPIRED:
        lines.append(f"Expired at {when} with {got} of {total} approval(s); still needed: {needs}.")
    else:
        lines.append(
            f"Pending: {got} of {total} approval(s) (counted: {by}); still needed: {needs}. "
            f"Expires at {outcome.expires_at.isoformat()}."
        )
    if outcome.rejections and outcome.state is not ApprovalState.REJECTED:
        names = ", ".join(vote.user_id for vote in outcome.rejections)
        lines.append(f"Rejected by {names} (recorded; rejects do not block under this rule).")
    if outcome.ignored:
        not_counted = "; ".join(
            f"{item.vote.user_id} {item.vote.decision} ({item.reason.value}: "
            f"{_REASON_TEXT[item.reason].format(roles=roles)})"
            for item in outcome.ignored
        )
        lines.append(f"Not counted: {not_counted}.")
    return "\n".join(lines)

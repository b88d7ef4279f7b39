"""The lifecycle of a release under review: its gates, its readiness review and its go/no-go.

A release is reviewed by marking every gate of the runbook's readiness stages. Once no gate is
open, a failed gate blocks the release (no go/no-go is asked), otherwise the review awaits the
go: an approval request that the go/no-go roles decide (``bot.core.approvals``). Its outcome is
the verdict of the review and of the release: approved is go, rejected is no-go, and a request
that reaches its deadline undecided leaves the release expired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.core.approvals import ApprovalState
from bot.core.lifecycle import Lifecycle


class GateStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    WAIVED = "waived"


class ReviewState(StrEnum):
    PENDING = "pending"  # gates still being marked
    AWAITING_GO = "awaiting_go"  # every gate marked, none failed: the go/no-go is asked
    GO = "go"
    NO_GO = "no_go"
    EXPIRED = "expired"


class ReleaseState(StrEnum):
    REVIEWING = "reviewing"
    GO = "go"
    NO_GO = "no_go"
    EXPIRED = "expired"


GATE = Lifecycle.of(
    "gate",
    GateStatus.PENDING,
    {GateStatus.PENDING: (GateStatus.PASSED, GateStatus.FAILED, GateStatus.WAIVED)},
)
REVIEW = Lifecycle.of(
    "readiness review",
    ReviewState.PENDING,
    {
        ReviewState.PENDING: (ReviewState.AWAITING_GO, ReviewState.NO_GO),
        ReviewState.AWAITING_GO: (ReviewState.GO, ReviewState.NO_GO, ReviewState.EXPIRED),
    },
)
RELEASE = Lifecycle.of(
    "release",
    ReleaseState.REVIEWING,
    {ReleaseState.REVIEWING: (ReleaseState.GO, ReleaseState.NO_GO, ReleaseState.EXPIRED)},
)


class Readiness(StrEnum):
    """What the marked gates mean for the review."""

    OPEN = "open"  # a gate is still pending
    BLOCKED = "blocked"  # every gate marked, at least one failed: no go/no-go
    READY = "ready"  # every gate marked, none failed: ask for the go


@dataclass(frozen=True)
class GatesVerdict:
    readiness: Readiness
    failed: tuple[str, ...] = ()  # the failed gates' ids, in the order given


def gates_verdict(gates: Iterable[tuple[str, GateStatus]]) -> GatesVerdict:
    """What ``(gate_id, status)`` pairs, every gate of a review, mean for it."""
    marked = list(gates)
    if any(status is GateStatus.PENDING for _, status in marked):
        return GatesVerdict(Readiness.OPEN)
    failed = tuple(gate_id for gate_id, status in marked if status is GateStatus.FAILED)
    return GatesVerdict(Readiness.BLOCKED if failed else Readiness.READY, failed)


def review_verdict(outcome: ApprovalState) -> ReviewState:
    """The review's verdict for the go/no-go's decided outcome (``ValueError`` if pending)."""
    verdicts = {
        ApprovalState.APPROVED: ReviewState.GO,
        ApprovalState.REJECTED: ReviewState.NO_GO,
        ApprovalState.EXPIRED: ReviewState.EXPIRED,
    }
    if outcome not in verdicts:
        raise ValueError(f"a {outcome} go/no-go gives no verdict")
    return verdicts[outcome]


def release_verdict(review: ReviewState) -> ReleaseState:
    """The release's state once its review has that verdict (``ValueError`` if undecided)."""
    if not REVIEW.is_terminal(review):
        raise ValueError(f"a review {review} has no verdict yet")
    return ReleaseState(review.value)

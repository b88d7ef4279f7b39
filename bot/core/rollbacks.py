"""The lifecycle of a rollback: the recommendation, its execution and the validation after it.

A recommendation is decided through its approval request (``bot.core.approvals``): approved,
rejected or expired. An approved one runs once through its path's executor (one execution);
the run succeeds (a dry run counts as success) or fails. After a success the validation metric
is watched for the path's window and judged with the runbook's own criterion: recovered,
not recovered, or not enough data to say. Only a recovery validates the rollback.
"""

from __future__ import annotations

from enum import StrEnum

from bot.core.approvals import ApprovalState
from bot.core.criteria import CriterionState
from bot.core.lifecycle import Lifecycle


class RecommendationState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    VALIDATED = "validated"
    FAILED = "failed"  # the execution failed, or the metric did not recover


class ExecutionState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # The process running it died, and running it again was not safe (a command not declared
    # idempotent): whether it took effect is for a person to check.
    UNKNOWN = "unknown"


class ValidationState(StrEnum):
    WATCHING = "watching"  # the execution succeeded; the window has not ended
    RECOVERED = "recovered"
    NOT_RECOVERED = "not_recovered"
    INSUFFICIENT_DATA = "insufficient_data"


RECOMMENDATION = Lifecycle.of(
    "rollback recommendation",
    RecommendationState.PENDING,
    {
        RecommendationState.PENDING: (
            RecommendationState.APPROVED,
            RecommendationState.REJECTED,
            RecommendationState.EXPIRED,
        ),
        RecommendationState.APPROVED: (RecommendationState.EXECUTED, RecommendationState.FAILED),
        RecommendationState.EXECUTED: (RecommendationState.VALIDATED, RecommendationState.FAILED),
    },
)
EXECUTION = Lifecycle.of(
    "rollback execution",
    ExecutionState.PENDING,
    {
        ExecutionState.PENDING: (ExecutionState.RUNNING,),
        ExecutionState.RUNNING: (
            ExecutionState.SUCCEEDED,
            ExecutionState.FAILED,
            ExecutionState.UNKNOWN,
        ),
    },
)
VALIDATION = Lifecycle.of(
    "validation",
    ValidationState.WATCHING,
    {
        ValidationState.WATCHING: (
            ValidationState.RECOVERED,
            ValidationState.NOT_RECOVERED,
            ValidationState.INSUFFICIENT_DATA,
        )
    },
)
# What the executors report (``bot.executors.ExecutionOutcome.outcome``) that counts as done.
SUCCESSFUL_RUNS = frozenset({"succeeded", "dry_run"})


def decided_recommendation(outcome: ApprovalState) -> RecommendationState:
    """The recommendation's state once its request is decided (``ValueError`` if pending)."""
    if outcome is ApprovalState.PENDING:
        raise ValueError("a pending rollback request decides nothing")
    return RecommendationState(outcome.value)


def execution_result(run_outcome: str) -> ExecutionState:
    """The execution's state after its executor reported ``run_outcome``."""
    return ExecutionState.SUCCEEDED if run_outcome in SUCCESSFUL_RUNS else ExecutionState.FAILED


def recommendation_after_execution(execution: ExecutionState) -> RecommendationState:
    if execution is ExecutionState.SUCCEEDED:
        return RecommendationState.EXECUTED
    if execution in (ExecutionState.FAILED, ExecutionState.UNKNOWN):
        return RecommendationState.FAILED
    raise ValueError(f"an execution still {execution} has no result")


def validation_outcome(criterion: CriterionState) -> ValidationState:
    """What the validation metric's criterion, evaluated at the window's end, means."""
    return {
        CriterionState.CLEAR: ValidationState.RECOVERED,
        CriterionState.BREACH: ValidationState.NOT_RECOVERED,
        CriterionState.INSUFFICIENT_DATA: ValidationState.INSUFFICIENT_DATA,
    }[criterion]


def recommendation_after_validation(validation: ValidationState) -> RecommendationState:
    if validation is ValidationState.WATCHING:
        raise ValueError("a validation still watching has no result")
    if validation is ValidationState.RECOVERED:
        return RecommendationState.VALIDATED
    return RecommendationState.FAILED

"""Lifecycles: what may follow what, for every thing the bot decides, as properties.

Random walks of attempted state changes never leave a terminal state, never take a change the
lifecycle does not list, and ``sources`` (the condition of the store's conditional UPDATE)
agrees with ``allows``; the rules that map outcomes to states are total where they must be.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.approvals import (
    REQUEST,
    ApprovalState,
    RequestState,
    Vote,
    decided_state,
    evaluate_approval,
    is_overdue,
)
from bot.core.criteria import CriterionState
from bot.core.drills import DRILL
from bot.core.lifecycle import IllegalTransition, Lifecycle
from bot.core.releases import (
    GATE,
    RELEASE,
    REVIEW,
    GateStatus,
    Readiness,
    ReviewState,
    gates_verdict,
    release_verdict,
    review_verdict,
)
from bot.core.rollbacks import (
    EXECUTION,
    RECOMMENDATION,
    VALIDATION,
    ExecutionState,
    RecommendationState,
    ValidationState,
    decided_recommendation,
    execution_result,
    recommendation_after_execution,
    recommendation_after_validation,
    validation_outcome,
)
from tests.core.approval_support import rule as approval_rule

LIFECYCLES: list[Lifecycle[Any]] = [
    GATE, REVIEW, RELEASE, REQUEST, RECOMMENDATION, EXECUTION, VALIDATION, DRILL,
]  # fmt: skip
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def reachable(lifecycle: Lifecycle[Any]) -> set[StrEnum]:
    seen, frontier = {lifecycle.initial}, [lifecycle.initial]
    while frontier:
        for target in lifecycle.successors[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.name)
def test_every_state_is_reachable_and_the_initial_one_is_open(lifecycle: Lifecycle[Any]) -> None:
    assert reachable(lifecycle) == set(lifecycle.states)
    assert not lifecycle.is_terminal(lifecycle.initial)
    assert lifecycle.initial in lifecycle.open_states


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.name)
def test_no_state_follows_itself_and_terminal_states_end_it(lifecycle: Lifecycle[Any]) -> None:
    """A self-transition would let a retry "win" a change that already happened."""
    for state in lifecycle.states:
        assert not lifecycle.allows(state, state)
        assert lifecycle.is_terminal(state) == (state not in lifecycle.open_states)


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.name)
@given(data=st.data())
def test_a_random_walk_takes_only_listed_changes(lifecycle: Lifecycle[Any], data: Any) -> None:
    states = list(lifecycle.states)
    attempts = data.draw(st.lists(st.sampled_from(states), max_size=12))
    current = lifecycle.initial
    for target in attempts:
        if lifecycle.allows(current, target):
            assert current in lifecycle.sources(target)
            current = target
        else:
            assert current not in lifecycle.sources(target)
            with pytest.raises(IllegalTransition):
                lifecycle.check(current, target)
    if lifecycle.is_terminal(current):
        assert all(not lifecycle.allows(current, target) for target in states)


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.name)
def test_states_parse_from_what_the_store_holds(lifecycle: Lifecycle[Any]) -> None:
    for state in lifecycle.states:
        assert lifecycle.parse(str(state)) is state
    with pytest.raises(ValueError, match=lifecycle.name):
        lifecycle.parse("no-such-state")


def test_a_lifecycle_refuses_a_state_of_another_kind() -> None:
    with pytest.raises(TypeError):
        Lifecycle.of("broken", GateStatus.PENDING, {GateStatus.PENDING: [ReviewState.GO]})


# --- the rules that map outcomes to states -----------------------------------------------------

statuses = st.sampled_from(list(GateStatus))


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), statuses), max_size=8))
def test_the_gates_decide_the_review_only_once_none_is_open(
    gates: list[tuple[str, GateStatus]],
) -> None:
    verdict = gates_verdict(gates)
    if any(status is GateStatus.PENDING for _, status in gates):
        assert verdict.readiness is Readiness.OPEN
    elif any(status is GateStatus.FAILED for _, status in gates):
        assert verdict.readiness is Readiness.BLOCKED
        assert list(verdict.failed) == [g for g, s in gates if s is GateStatus.FAILED]
    else:
        assert verdict.readiness is Readiness.READY and verdict.failed == ()


def test_a_blocked_or_ready_review_takes_a_listed_change() -> None:
    assert REVIEW.allows(ReviewState.PENDING, ReviewState.NO_GO)  # blocked by a failed gate
    assert REVIEW.allows(ReviewState.PENDING, ReviewState.AWAITING_GO)


@pytest.mark.parametrize("outcome", [s for s in ApprovalState if s is not ApprovalState.PENDING])
def test_every_decided_go_no_go_has_a_verdict_the_lifecycles_allow(outcome: ApprovalState) -> None:
    verdict = review_verdict(outcome)
    assert REVIEW.allows(ReviewState.AWAITING_GO, verdict)
    assert RELEASE.allows(RELEASE.initial, release_verdict(verdict))
    assert REQUEST.allows(RequestState.PENDING, decided_state(outcome))
    assert RECOMMENDATION.allows(RecommendationState.PENDING, decided_recommendation(outcome))


def test_a_pending_count_decides_nothing() -> None:
    """The expiry crash of old: a pending outcome mapped to no state (``KeyError``)."""
    for rule in (review_verdict, decided_state, decided_recommendation):
        with pytest.raises(ValueError):
            rule(ApprovalState.PENDING)  # type: ignore[operator]
    with pytest.raises(ValueError):
        release_verdict(ReviewState.AWAITING_GO)


@pytest.mark.parametrize("run", ["succeeded", "dry_run", "failed", "timed_out"])
def test_an_execution_ends_in_a_state_its_lifecycles_allow(run: str) -> None:
    state = execution_result(run)
    assert EXECUTION.allows(ExecutionState.RUNNING, state)
    after = recommendation_after_execution(state)
    assert RECOMMENDATION.allows(RecommendationState.APPROVED, after)
    with pytest.raises(ValueError):
        recommendation_after_execution(ExecutionState.RUNNING)


@pytest.mark.parametrize("criterion", list(CriterionState))
def test_every_validation_ends_in_a_state_its_lifecycles_allow(criterion: CriterionState) -> None:
    outcome = validation_outcome(criterion)
    assert VALIDATION.allows(ValidationState.WATCHING, outcome)
    after = recommendation_after_validation(outcome)
    assert RECOMMENDATION.allows(RecommendationState.EXECUTED, after)
    assert (after is RecommendationState.VALIDATED) == (criterion is CriterionState.CLEAR)


# --- expiry comes from the stored deadline ---------------------------------------------------

votes = st.lists(
    st.builds(
        Vote,
        user_id=st.sampled_from(["U0ANA", "U0BEN", "U0CAL", "U0REQ"]),
        decision=st.sampled_from(["approve", "reject"]),
        at=st.integers(0, 240).map(lambda m: T0 + timedelta(minutes=m)),
        roles=st.sets(st.sampled_from(["oncall", "release_champion"])).map(frozenset),
    ),
    max_size=6,
)


@given(
    votes=votes,
    stored_minutes=st.integers(1, 180),
    rule_minutes=st.integers(1, 600),
    late=st.integers(0, 300),
)
def test_at_or_past_its_stored_deadline_a_request_is_never_pending(
    votes: list[Vote], stored_minutes: int, rule_minutes: int, late: int
) -> None:
    """However the runbook's ``expires_after`` changed since the request was opened (the rule
    given here), the count at or after the stored deadline decides something: what the
    sweep closes the request with always exists."""
    rule = approval_rule(expires_after=f"{rule_minutes}m")
    expires_at = T0 + timedelta(minutes=stored_minutes)
    now = expires_at + timedelta(minutes=late)
    assert is_overdue(expires_at, now)
    outcome = evaluate_approval(
        rule, votes, requester="U0REQ", requested_at=T0, now=now, expires_at=expires_at
    )
    assert outcome.state is not ApprovalState.PENDING
    assert outcome.expires_at == expires_at
    assert REQUEST.allows(RequestState.PENDING, decided_state(outcome.state))
    if outcome.state is ApprovalState.EXPIRED:
        assert outcome.decided_at == expires_at


def test_without_a_stored_deadline_the_rule_gives_it() -> None:
    rule = approval_rule(roles={"oncall": 1}, expires_after="30m")
    outcome = evaluate_approval(
        rule, [], requester=None, requested_at=T0, now=T0 + timedelta(minutes=30)
    )
    assert outcome.state is ApprovalState.EXPIRED
    assert outcome.expires_at == T0 + timedelta(minutes=30)
    assert not is_overdue(None, T0 + timedelta(days=365))

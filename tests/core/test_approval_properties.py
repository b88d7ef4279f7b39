"""Approval rules as properties: ineligible votes, order, duplicates and time never change what
the eligible votes decide."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.core.approvals import ApprovalOutcome, ApprovalState, Vote, evaluate_approval
from bot.core.runbook import ApprovalRule
from tests.core.approval_support import T0, minutes, rule

USERS = ["U0A", "U0B", "U0C", "U0D", "U0E"]
RULE_ROLES = ["oncall", "release_champion", "ml_lead"]
ALL_ROLES = [*RULE_ROLES, "other"]


@st.composite
def rules(draw: st.DrawFn) -> ApprovalRule:
    roles = draw(st.dictionaries(st.sampled_from(RULE_ROLES), st.integers(0, 2), min_size=1))
    if sum(roles.values()) == 0:
        roles[next(iter(roles))] = 1
    extra = draw(st.none() | st.integers(0, 1))
    return rule(
        roles=roles,
        quorum=None if extra is None else sum(roles.values()) + extra,
        allow_self_approval=draw(st.booleans()),
        reject_blocks=draw(st.booleans()),
        expires_after=f"{draw(st.integers(10, 60))}m",
    )


def votes_from(users: list[str], roles: list[str]) -> st.SearchStrategy[Vote]:
    return st.builds(
        Vote,
        user_id=st.sampled_from(users),
        decision=st.sampled_from(["approve", "reject"]),
        at=st.integers(0, 70).map(minutes),
        roles=st.frozensets(st.sampled_from(roles)),
    )


vote_lists = st.lists(votes_from(USERS, ALL_ROLES), max_size=8)
requesters = st.none() | st.sampled_from(USERS)
nows = st.integers(0, 75).map(minutes)
cases = settings(max_examples=200, deadline=None)


def at(
    approval_rule: ApprovalRule, votes: list[Vote], requester: str | None, now: datetime
) -> ApprovalOutcome:
    return evaluate_approval(approval_rule, votes, requester=requester, requested_at=T0, now=now)


def decision(outcome: ApprovalOutcome) -> tuple[Any, ...]:
    """Everything but the list of ignored votes (and the text that lists them)."""
    return (
        outcome.state,
        outcome.decided_at,
        outcome.counted,
        outcome.rejections,
        outcome.missing,
        outcome.missing_total,
    )


@cases
@given(rules(), vote_lists, requesters, nows, st.data())
def test_an_ineligible_vote_never_changes_the_decision(
    approval_rule: ApprovalRule,
    votes: list[Vote],
    requester: str | None,
    now: datetime,
    data: st.DataObject,
) -> None:
    outsider_roles = [r for r in ALL_ROLES if r not in approval_rule.roles]
    extra = data.draw(votes_from(USERS, outsider_roles))
    position = data.draw(st.integers(0, len(votes)))
    with_extra = [*votes[:position], extra, *votes[position:]]
    assert decision(at(approval_rule, with_extra, requester, now)) == decision(
        at(approval_rule, votes, requester, now)
    )


@cases
@given(rules(), vote_lists, requesters, nows, st.data())
def test_the_order_of_votes_never_changes_the_outcome(
    approval_rule: ApprovalRule,
    votes: list[Vote],
    requester: str | None,
    now: datetime,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(votes))
    assert at(approval_rule, shuffled, requester, now) == at(approval_rule, votes, requester, now)


@cases
@given(rules(), vote_lists, requesters, nows)
def test_duplicating_every_vote_counts_each_once(
    approval_rule: ApprovalRule, votes: list[Vote], requester: str | None, now: datetime
) -> None:
    once = at(approval_rule, votes, requester, now)
    twice = at(approval_rule, votes + votes, requester, now)
    assert decision(twice) == decision(once)


@cases
@given(rules(), vote_lists, requesters, nows, st.data())
def test_an_eligible_approval_never_rejects_or_expires_a_live_request(
    approval_rule: ApprovalRule,
    votes: list[Vote],
    requester: str | None,
    now: datetime,
    data: st.DataObject,
) -> None:
    before = at(approval_rule, votes, requester, now)
    assume(before.state is ApprovalState.PENDING)
    voter = data.draw(st.sampled_from([u for u in USERS if u != requester]))
    roles = data.draw(
        st.frozensets(st.sampled_from(ALL_ROLES)).filter(
            lambda r: not r.isdisjoint(approval_rule.roles)
        )
    )
    moment = data.draw(st.integers(0, int((now - T0).total_seconds() // 60)).map(minutes))
    after = at(approval_rule, [*votes, Vote(voter, "approve", moment, roles)], requester, now)
    assert after.state in (ApprovalState.PENDING, ApprovalState.APPROVED)


@cases
@given(rules(), vote_lists, requesters, nows)
def test_the_outcome_at_now_depends_only_on_votes_cast_by_now(
    approval_rule: ApprovalRule, votes: list[Vote], requester: str | None, now: datetime
) -> None:
    cast = [vote for vote in votes if vote.at <= now]
    assert at(approval_rule, votes, requester, now) == at(approval_rule, cast, requester, now)


@cases
@given(rules(), vote_lists, requesters, nows, st.integers(0, 30))
def test_a_decision_once_reached_stands_later(
    approval_rule: ApprovalRule, votes: list[Vote], requester: str | None, now: datetime, later: int
) -> None:
    first = at(approval_rule, votes, requester, now)
    assume(first.state is not ApprovalState.PENDING)
    second = at(approval_rule, votes, requester, now + timedelta(minutes=later))
    assert (second.state, second.decided_at) == (first.state, first.decided_at)


@cases
@given(rules(), vote_lists, requesters, nows)
def test_approved_means_every_minimum_met_by_distinct_people(
    approval_rule: ApprovalRule, votes: list[Vote], requester: str | None, now: datetime
) -> None:
    outcome = at(approval_rule, votes, requester, now)
    people = [c.vote.user_id for c in outcome.counted]
    assert len(people) == len(set(people))
    assert all(c.role in c.vote.roles and c.role in approval_rule.roles for c in outcome.counted)
    if outcome.state is ApprovalState.APPROVED:
        assert len(people) >= approval_rule.required_total
        for role, minimum in approval_rule.roles.items():
            assert sum(1 for c in outcome.counted if c.role == role) >= minimum
        if not approval_rule.allow_self_approval:
            assert requester not in people

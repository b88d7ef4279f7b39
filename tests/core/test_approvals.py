"""Approval rules: composed quorum, separation of duties, rejects, expiry and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot.core.approvals import (
    ApprovalOutcome,
    ApprovalState,
    IgnoreReason,
    Vote,
    escalation_at,
    escalation_due,
    escalation_roles,
    evaluate_approval,
)
from bot.core.runbook import ApprovalRule, Runbook

T0 = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)
ONCALL = frozenset({"oncall"})
CHAMPION = frozenset({"release_champion"})
BOTH = ONCALL | CHAMPION


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def rule(**fields: Any) -> ApprovalRule:
    base: dict[str, Any] = {
        "roles": {"oncall": 1, "release_champion": 1},
        "allow_self_approval": False,
        "reject_blocks": False,
        "expires_after": "30m",
    }
    return ApprovalRule.model_validate({**base, **fields})


def approve(user: str, at: float, roles: frozenset[str] = ONCALL) -> Vote:
    return Vote(user_id=user, decision="approve", at=minutes(at), roles=roles)


def reject(user: str, at: float, roles: frozenset[str] = ONCALL, reason: str | None = None) -> Vote:
    return Vote(user_id=user, decision="reject", at=minutes(at), roles=roles, reason=reason)


def evaluate(
    approval_rule: ApprovalRule,
    votes: list[Vote],
    *,
    now: float = 10,
    requester: str | None = "U0REQ",
) -> ApprovalOutcome:
    return evaluate_approval(
        approval_rule, votes, requester=requester, requested_at=T0, now=minutes(now)
    )


def reasons(outcome: ApprovalOutcome) -> list[tuple[str, IgnoreReason]]:
    return [(item.vote.user_id, item.reason) for item in outcome.ignored]


# --- examples --------------------------------------------------------------------------------


def test_oncall_alone_is_not_enough_when_a_release_champion_is_also_required() -> None:
    outcome = evaluate(rule(), [approve("U0ON", 1)])
    assert outcome.state is ApprovalState.PENDING
    assert outcome.missing == {"release_champion": 1} and outcome.missing_total == 1
    assert "still needed: release_champion ×1" in outcome.explanation


def test_oncall_and_release_champion_together_approve() -> None:
    outcome = evaluate(rule(), [approve("U0ON", 1), approve("U0RC", 3, CHAMPION)])
    assert outcome.state is ApprovalState.APPROVED
    assert outcome.decided_at == minutes(3)
    assert [(c.vote.user_id, c.role) for c in outcome.counted] == [
        ("U0ON", "oncall"),
        ("U0RC", "release_champion"),
    ]
    assert outcome.missing == {} and outcome.missing_total == 0


def test_a_person_in_two_roles_fills_only_one_slot() -> None:
    outcome = evaluate(rule(), [approve("U0BOTH", 1, BOTH)])
    assert outcome.state is ApprovalState.PENDING
    assert outcome.missing_total == 1


def test_a_person_in_two_roles_is_placed_where_the_quorum_needs_them() -> None:
    for first, second in [(1, 2), (2, 1)]:
        outcome = evaluate(rule(), [approve("U0BOTH", first, BOTH), approve("U0ON", second)])
        assert outcome.state is ApprovalState.APPROVED
        roles = {c.vote.user_id: c.role for c in outcome.counted}
        assert roles == {"U0BOTH": "release_champion", "U0ON": "oncall"}


def test_the_requester_cannot_approve_their_own_rollback() -> None:
    outcome = evaluate(rule(roles={"oncall": 1}), [approve("U0REQ", 1)])
    assert outcome.state is ApprovalState.PENDING
    assert reasons(outcome) == [("U0REQ", IgnoreReason.SELF_APPROVAL)]
    assert "self-approval is not allowed" in outcome.explanation


def test_self_approval_counts_when_the_runbook_allows_it() -> None:
    outcome = evaluate(rule(roles={"oncall": 1}, allow_self_approval=True), [approve("U0REQ", 1)])
    assert outcome.state is ApprovalState.APPROVED


def test_a_voter_outside_the_roles_is_not_counted() -> None:
    outcome = evaluate(rule(roles={"oncall": 1}), [approve("U0EVE", 1, frozenset({"ml_lead"}))])
    assert outcome.state is ApprovalState.PENDING
    assert reasons(outcome) == [("U0EVE", IgnoreReason.NOT_ELIGIBLE)]


def test_oncall_clicks_approve_twice_and_one_vote_counts() -> None:
    outcome = evaluate(rule(roles={"oncall": 2}), [approve("U0ON", 1), approve("U0ON", 1.1)])
    assert outcome.state is ApprovalState.PENDING
    assert len(outcome.counted) == 1
    assert reasons(outcome) == [("U0ON", IgnoreReason.DUPLICATE)]


def test_the_first_vote_stands_when_someone_changes_their_mind() -> None:
    outcome = evaluate(
        rule(roles={"oncall": 2}, reject_blocks=True), [approve("U0ON", 1), reject("U0ON", 2)]
    )
    assert outcome.state is ApprovalState.PENDING
    assert reasons(outcome) == [("U0ON", IgnoreReason.DUPLICATE)]


def test_one_reject_blocks_when_the_rule_says_so() -> None:
    votes = [
        approve("U0ON", 1),
        reject("U0RC", 2, CHAMPION, "wrong model"),
        approve("U0RC2", 3, CHAMPION),
    ]
    outcome = evaluate(rule(reject_blocks=True), votes)
    assert outcome.state is ApprovalState.REJECTED
    assert outcome.decided_at == minutes(2)
    assert reasons(outcome) == [("U0RC2", IgnoreReason.AFTER_DECISION)]
    assert 'by U0RC: "wrong model"' in outcome.explanation


def test_rejects_are_recorded_but_do_not_block_otherwise() -> None:
    votes = [reject("U0ON2", 1), approve("U0ON", 2), approve("U0RC", 3, CHAMPION)]
    outcome = evaluate(rule(reject_blocks=False), votes)
    assert outcome.state is ApprovalState.APPROVED
    assert [v.user_id for v in outcome.rejections] == ["U0ON2"]
    assert "do not block" in outcome.explanation


def test_the_requester_may_reject_their_own_request() -> None:
    outcome = evaluate(rule(reject_blocks=True), [reject("U0REQ", 1)])
    assert outcome.state is ApprovalState.REJECTED


def test_an_ineligible_reject_does_not_block() -> None:
    outcome = evaluate(rule(reject_blocks=True), [reject("U0EVE", 1, frozenset())])
    assert outcome.state is ApprovalState.PENDING


def test_a_request_nobody_answers_expires() -> None:
    outcome = evaluate(rule(), [approve("U0ON", 5)], now=45)
    assert outcome.state is ApprovalState.EXPIRED
    assert outcome.decided_at == outcome.expires_at == minutes(30)
    assert "still needed: release_champion ×1" in outcome.explanation


def test_a_vote_at_the_expiry_instant_is_too_late() -> None:
    outcome = evaluate(rule(), [approve("U0ON", 5), approve("U0RC", 30, CHAMPION)], now=30)
    assert outcome.state is ApprovalState.EXPIRED
    assert reasons(outcome) == [("U0RC", IgnoreReason.AFTER_EXPIRY)]


def test_just_before_expiry_the_request_is_still_pending() -> None:
    assert evaluate(rule(), [], now=29.9).state is ApprovalState.PENDING


def test_quorum_above_the_minimums_accepts_any_eligible_role() -> None:
    quorum_rule = rule(roles={"oncall": 1, "compliance": 0}, quorum=2)
    outcome = evaluate(quorum_rule, [approve("U0ON", 1)])
    assert outcome.missing == {} and outcome.missing_total == 1
    assert "1 more from any of oncall, compliance" in outcome.explanation
    outcome = evaluate(
        quorum_rule, [approve("U0ON", 1), approve("U0COMP", 2, frozenset({"compliance"}))]
    )
    assert outcome.state is ApprovalState.APPROVED
    assert evaluate(
        quorum_rule,
        [
            approve("U0C1", 1, frozenset({"compliance"})),
            approve("U0C2", 2, frozenset({"compliance"})),
        ],
    ).missing == {"oncall": 1}


def test_votes_after_now_have_not_happened_yet() -> None:
    outcome = evaluate(rule(roles={"oncall": 1}), [approve("U0ON", 5)], now=4)
    assert outcome.state is ApprovalState.PENDING and outcome.ignored == ()
    assert (
        evaluate(rule(roles={"oncall": 1}), [approve("U0ON", 5)], now=5).state
        is ApprovalState.APPROVED
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        Vote(user_id="U0ON", decision="approve", at=datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        evaluate_approval(rule(), [], requester=None, requested_at=datetime(2025, 1, 1), now=T0)


def test_the_shipped_ranking_runbook_needs_oncall_and_a_release_champion() -> None:
    raw = YAML(typ="safe").load(
        (Path(__file__).resolve().parents[2] / "runbooks" / "ranking-model.yaml").read_text()
    )
    path = Runbook.model_validate(raw).path("previous-model")
    assert path is not None
    votes = [approve("U0ON", 1), approve("U0ALICE", 25, CHAMPION)]
    assert evaluate(path.approval, votes, now=25).state is ApprovalState.EXPIRED  # 20m expiry
    assert (
        evaluate(path.approval, votes[:1] + [approve("U0ALICE", 4, CHAMPION)]).state
        is ApprovalState.APPROVED
    )


# --- escalation ------------------------------------------------------------------------------


def test_escalation_is_due_only_while_pending_after_the_delay() -> None:
    escalating = rule(escalate_after="10m", escalate_to=["ml_lead"])
    due = escalation_at(escalating, requested_at=T0)
    assert due == minutes(10)
    pending = ApprovalState.PENDING
    assert not escalation_due(escalating, requested_at=T0, now=minutes(9), state=pending)
    assert escalation_due(escalating, requested_at=T0, now=minutes(10), state=pending)
    for decided in (ApprovalState.APPROVED, ApprovalState.REJECTED, ApprovalState.EXPIRED):
        assert not escalation_due(escalating, requested_at=T0, now=minutes(10), state=decided)
    assert escalation_roles(escalating) == ("ml_lead",)


def test_without_escalation_settings_nothing_escalates_and_approvers_are_the_fallback() -> None:
    quiet = rule()
    assert escalation_at(quiet, requested_at=T0) is None
    assert not escalation_due(quiet, requested_at=T0, now=minutes(29), state=ApprovalState.PENDING)
    assert escalation_roles(quiet) == ("oncall", "release_champion")


def test_escalate_to_without_a_delay_escalates_halfway_to_expiry() -> None:
    escalating = rule(escalate_to=["ml_lead"])  # expires after 30m
    assert escalation_at(escalating, requested_at=T0) == minutes(15)
    assert escalation_due(escalating, requested_at=T0, now=minutes(15), state=ApprovalState.PENDING)


# --- properties ------------------------------------------------------------------------------

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

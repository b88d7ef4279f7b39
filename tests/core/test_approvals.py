"""Approval rules: composed quorum, separation of duties, rejects, expiry and escalation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
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
from tests.core.approval_support import BOTH, CHAMPION, T0, approve, minutes, reject, rule


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



"""A sample context for every template, built by the real context builders from sample rows.

``releasebot preview`` renders these, ``releasebot check`` renders every template with them
(``bot.render.problems``), and the tests check them against the templates' TypedDicts: so a
preview shows what the bot would post, and a builder that drifts from its template fails
the check. ``sample_context(name, runbook)`` is the entry point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.core.approvals import Vote, evaluate_approval
from bot.core.criteria import CriterionState
from bot.core.decision import auto_execute_at
from bot.core.gate_checks import CheckResult
from bot.core.releases import GateStatus
from bot.core.rollbacks import ValidationState
from bot.core.runbook import Runbook
from bot.core.subjects import release_subject
from bot.executors import ExecutionOutcome
from bot.render.learning_contexts import HomeRollbackApproval
from bot.services.approvals.contexts import approval_state_context
from bot.services.context_parts import iso, runbook_ref
from bot.services.outbox.answers import reason_modal_context
from bot.services.postmortems import prompt_context
from bot.services.previews import drills
from bot.services.previews.fixtures import (
    RECOMMENDATION_ID,
    REQUEST_ID,
    SAMPLE_NOW,
    THREAD_TS,
    ago,
    breach_decision,
    executor_target,
    pending_go_no_go,
    people,
    recommended,
    review_rows,
    rollback_request,
    series,
)
from bot.services.releases.contexts import (
    checklist_context,
    gate_update_context,
    go_no_go_context,
)
from bot.services.releases.home_items import (
    active_item,
    approval_item,
    decision_item,
    gate_items,
    home_page,
)
from bot.services.releases.review_rows import ReviewRows
from bot.services.rollbacks.contexts import (
    execution_context,
    recommendation_context,
    validation_context,
)
from bot.store.tables import RollbackRecommendation

Context = Mapping[str, Any]


def readiness_checklist(runbook: Runbook) -> Context:
    rows = review_rows(runbook)
    open_gates = [gate.gate_id for gate in rows.gates if gate.marked_by is None]
    # a self-checking gate's proposal, as the bot shows it (its wording, not a real check)
    checks = {
        gate_id: CheckResult("pass", "`error_rate` stayed under 0.02 for 1h: 60 values")
        for gate_id in open_gates[:1]
    }
    return checklist_context(*rows, checks)


def gate_update(runbook: Runbook) -> Context:
    rows = review_rows(runbook)
    marked = [gate for gate in rows.gates if gate.marked_by is not None] or rows.gates
    return gate_update_context(rows.runbook, rows.release, rows.review, marked[-1], rows.gates)


def go_no_go_request(runbook: Runbook) -> Context:
    rows = review_rows(runbook)
    return go_no_go_context(*rows[:3], pending_go_no_go(rows), rows.gates)


def rollback_recommendation(runbook: Runbook) -> Context:
    decision = breach_decision(runbook)
    assert decision.recommendation is not None and decision.severity is not None
    request = rollback_request(runbook, decision.recommendation.path)
    return recommendation_context(
        runbook, request_id=REQUEST_ID, recommendation=decision.recommendation,
        evaluations=decision.criteria, severity=decision.severity, detected_at=SAMPLE_NOW,
        requested_by=None, expires_at=request.expires_at or SAMPLE_NOW,
        auto_execute_at=auto_execute_at(runbook, decision),
    )  # fmt: skip


def _rollback_votes(runbook: Runbook) -> tuple[list[Vote], str]:
    """One eligible approval (the first deciding role's) and an outsider's."""
    rule = recommended(runbook).approval
    role = next((r for r, count in rule.roles.items() if count), next(iter(rule.roles)))
    voter = (people(runbook, role) or ["U0SOMEONE"])[0]
    return [
        Vote(user_id=voter, decision="approve", at=ago(1), roles=frozenset({role})),
        Vote(user_id="U0MALLORY", decision="approve", at=ago(1.5)),
    ], voter


def approval_state(runbook: Runbook) -> Context:
    path = recommended(runbook)
    request = rollback_request(runbook, path)
    votes, _ = _rollback_votes(runbook)
    outcome = evaluate_approval(
        path.approval, votes, requester=request.requested_by, requested_at=request.created_at,
        now=SAMPLE_NOW, expires_at=request.expires_at,
    )  # fmt: skip
    return approval_state_context(
        runbook, request, outcome, kind="rollback", now=SAMPLE_NOW,
        subject_text=f"Rollback of {runbook.id}: {path.title}",
    )  # fmt: skip


def _recommendation_row(runbook: Runbook) -> RollbackRecommendation:
    path = recommended(runbook)
    return RollbackRecommendation(
        id=RECOMMENDATION_ID, runbook_id=runbook.id, runbook_version=runbook.version,
        path_id=path.id, state="executed", requested_by="monitoring",
        channel_id=runbook.channels[0], created_at=ago(5), updated_at=ago(1),
    )  # fmt: skip


def execution_result(runbook: Runbook) -> Context:
    path = recommended(runbook)
    output = {
        "webhook": 'HTTP 200 {"status": "ok"}',
        "command": "rolled back to the previous version; 12/12 replicas ready",
        "dry-run": "dry run: nothing was changed",
    }[path.executor.type]
    outcome = ExecutionOutcome(
        outcome="dry_run" if path.executor.type == "dry-run" else "succeeded", attempts=1,
        started_at=ago(1), finished_at=ago(1) + timedelta(seconds=42.5), duration_seconds=42.5,
        output_excerpt=output, detail="", target=executor_target(path),
    )  # fmt: skip
    _, voter = _rollback_votes(runbook)
    return execution_context(runbook, path, _recommendation_row(runbook), outcome, [voter])


def validation_result(runbook: Runbook) -> Context:
    path = recommended(runbook)
    criterion = runbook.criterion(path.validation.metric) or runbook.criteria[0]
    return validation_context(
        runbook, path, criterion, request_id=REQUEST_ID, drill=False,
        outcome=ValidationState.RECOVERED, samples=series(criterion, CriterionState.CLEAR),
    )  # fmt: skip


def reason_modal(runbook: Runbook) -> Context:
    rows = review_rows(runbook)
    gate = rows.runbook.gate(rows.gates[0].gate_id)
    assert gate is not None
    return reason_modal_context(
        action="fail",
        subject=gate.title,
        metadata={"kind": "gate", "review_id": str(rows.review.id), "gate_id": gate.id,
                  "channel_id": rows.runbook.channels[0]},
    )  # fmt: skip


def app_home(runbook: Runbook) -> Context:
    """An owner of an open gate: their gates, a go/no-go for them, releases, decisions."""
    rows = review_rows(runbook)
    waiting = review_rows(runbook, version="v2.3.2", review_id=1041,
                          statuses=(GateStatus.PASSED,), started_minutes_ago=300)  # fmt: skip
    decided = [
        review_rows(runbook, version=version, review_id=review_id, started_minutes_ago=minutes)
        for version, review_id, minutes in (("v2.3.1", 1040, 60 * 24 * 7),
                                             ("v2.3.0", 1039, 60 * 24 * 14))
    ]  # fmt: skip
    for done, verdict in zip(decided, ("go", "no_go"), strict=True):
        done.release.state = done.review.state = verdict
        done.review.decided_at = done.release.created_at
    channel = runbook.channels[0]
    root = f"https://acme-ml.slack.com/archives/{channel}/p1712750400000100"
    links = {
        _subject(rows): {"readiness_checklist": root},
        _subject(waiting): {"go_no_go_request": f"{root}?thread_ts={THREAD_TS}&cid={channel}"},
        _subject(decided[0]): {"readiness_checklist": root},
    }
    gates = gate_items(rows, links)
    user = (people(rows.runbook, gates[0]["owner_role"]) if gates else []) or ["U0SOMEONE"]
    request = pending_go_no_go(waiting)
    assert rows.runbook.readiness is not None
    rule = rows.runbook.readiness.go_no_go
    outcome = evaluate_approval(
        rule, [], requester=request.requested_by, requested_at=request.created_at,
        now=SAMPLE_NOW, expires_at=request.expires_at,
    )  # fmt: skip
    approval = approval_item(rows.runbook, waiting.release, request, outcome, links,
                             roles=sorted(rule.roles)[:1])  # fmt: skip
    groups = sorted({m for members in runbook.roles.values() for m in members if m[0] == "S"})
    return home_page(
        user_id=user[0], now=SAMPLE_NOW, unresolved_groups=groups[:1], gates=gates,
        approvals=[approval],
        active=[
            active_item(runbook_ref(rows.runbook), rows.release, rows, None, links),
            active_item(runbook_ref(rows.runbook), waiting.release, waiting, request, links),
        ],
        recent=[
            decision_item(runbook_ref(rows.runbook), r.release, r.review, links) for r in decided
        ],
        drills=[{
            "runbook": runbook_ref(runbook), "trend": "improving",
            "runs": [{"drill_id": d.id, "run_id": str(n), "started_at": SAMPLE_NOW.isoformat(),
                      "outcome": "approved", "score": 60 + 10 * n}
                     for n, d in enumerate(runbook.drills[:1] * 2)],
        }] if runbook.drills else [],
        rollback_approvals=[_sample_rollback_approval(runbook, channel, root)],
        journal_latest={
            "subject": "rollback:41", "runbook_id": runbook.id, "path": runbook.paths[0].id,
            "expected": "error_rate back under 0.015 within 20 min of execution "
            "(by about 2026-11-20 10:25:00 UTC); track record then: no past uses",
            "actual": "recovered in 6.5 min; values seen: 0.012, 0.009, 0.008",
        },
        figures=[
            {"figure": "breach detected (recommendation) → approval decided",
             "current": "4.0 min (p90 9.5 min), n=3", "previous": "6.0 min (p90 6.0 min), n=1"},
            {"figure": "rollbacks recommended", "current": "3", "previous": "1"},
        ],
        action_items=[{"subject": "rollback:41", "item": "V0PM41.1", "due": "2026-12-01",
                       "text": "Alert on the canary's error rate before the full rollout"}],
    )  # fmt: skip


def _sample_rollback_approval(runbook: Runbook, channel: str, root: str) -> HomeRollbackApproval:
    path = runbook.paths[0]
    return {
        "runbook": runbook_ref(runbook), "rollback": "rollback:42", "path_title": path.title,
        "roles": sorted(path.approval.roles)[:1], "still_needed": path.approval.required_total,
        "quorum": path.approval.required_total, "expires_at": iso(SAMPLE_NOW),
        "permalink": root, "channel_id": channel,
    }  # fmt: skip


def _subject(rows: ReviewRows) -> str:
    return release_subject(rows.runbook.id, rows.release.version)


def postmortem_prompt(runbook: Runbook) -> Context:
    return prompt_context(runbook, "rollback:42")


def postmortem_modal(runbook: Runbook) -> Context:
    """The form as the trail pre-fills it after a recovered rollback."""
    timeline = [
        "10:00:00 (+0:00:00) rollback recommended by releasebot",
        "10:03:10 (+0:03:10) approved by oncall",
        "10:05:42 (+0:05:42) approved by release_champion",
        "10:05:42 (+0:05:42) approval quorum reached by releasebot",
        "10:05:44 (+0:05:44) rollback executed by releasebot",
        "10:25:44 (+0:25:44) validation ended by releasebot",
    ]
    return {
        "subject": "rollback:42", "runbook_id": runbook.id, "existing": False,
        "timeline": timeline,
        "arithmetic": "revenue 2×0.5 + customer 2×0.3 + regulatory 0×0.2 = 1.60",
        "votes": ["approved as oncall", "approved as release_champion"],
        "validation": "error_rate: recovered after 6.5 min", "draft": "\n".join(timeline),
        "slots": [1, 2, 3],
    }  # fmt: skip


BUILDERS: dict[str, Callable[[Runbook], Context]] = {
    "readiness_checklist": readiness_checklist,
    "gate_update": gate_update,
    "go_no_go_request": go_no_go_request,
    "rollback_recommendation": rollback_recommendation,
    "approval_state": approval_state,
    "execution_result": execution_result,
    "validation_result": validation_result,
    "drill_start": drills.drill_start,
    "drill_report": drills.drill_report,
    "reason_modal": reason_modal,
    "app_home": app_home,
    "postmortem_prompt": postmortem_prompt,
    "postmortem_modal": postmortem_modal,
}


def sample_context(name: str, runbook: Runbook) -> dict[str, Any]:
    """A realistic context for template ``name`` drawn from ``runbook``; KeyError if unknown.

    A fresh copy each time: callers may change it (the tests do, to try the limits)."""
    try:
        build = BUILDERS[name]
    except KeyError:
        raise KeyError(f"no sample context for template {name!r}") from None
    return dict(build(runbook))

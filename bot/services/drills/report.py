"""A drill run's report: the facts read back from its rows and trail, and the template's context.

Everything the report says comes from what was recorded during the run (the run's results,
its recommendation, the votes, the trail events of ``drill:ID``), so a report written again
says the same thing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.core.drills import DrillFacts, DrillScore, score
from bot.core.durations import format_duration
from bot.core.runbook import Drill, Runbook
from bot.core.subjects import drill_subject
from bot.core.trail import TrailEvent
from bot.render.contexts import DrillReportContext, DrillStartContext, Participant
from bot.services.context_parts import iso, runbook_ref
from bot.store.tables import (
    ApprovalRequest,
    ApprovalVote,
    DrillRun,
    Execution,
    RollbackRecommendation,
)
from bot.store.trail import trail_for_subject

OUTCOME_TEXT = {
    "approved": "Decided: the path was approved",
    "rejected": "Decided: the rollback was rejected",
    "expired": "The approval request expired",
    "timed_out": "Timed out: nobody decided in time",
    "aborted": "Aborted",
}
WHY_REFUSED = {
    "not_eligible": "not in an approving role",
    "self_approval": "asked for it, cannot approve alone",
    "membership_unavailable": "roles could not be checked",
}


def when(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def start_context(
    runbook: Runbook, drill: Drill, run_id: int, *, started_at: datetime, started_by: str | None
) -> DrillStartContext:
    return {
        "runbook": runbook_ref(runbook),
        "drill_run_id": str(run_id),
        "drill": {"id": drill.id, "title": drill.title},
        "metric": drill.scenario.metric,
        "scenario_values": list(drill.scenario.values),
        "interval": format_duration(drill.scenario.interval),
        "started_at": iso(started_at),
        "started_by": started_by,
        "timeout": format_duration(drill.timeout),
        "expected_path": drill.expected_path,
    }


class RunRecord:
    """What was recorded of one run, read in one unit of work."""

    def __init__(self, session: Session, run: DrillRun) -> None:
        self.run = run
        self.recommendation = session.exec(
            select(RollbackRecommendation)
            .where(RollbackRecommendation.drill_run_id == run.id)
            .order_by(col(RollbackRecommendation.id))
        ).first()
        rec_id = self.recommendation.id if self.recommendation else -1
        self.votes = list(
            session.exec(
                select(ApprovalVote)
                .join(ApprovalRequest, col(ApprovalVote.request_id) == ApprovalRequest.id)
                .where(ApprovalRequest.recommendation_id == rec_id)
                .order_by(col(ApprovalVote.created_at))
            ).all()
        )
        self.execution = session.exec(
            select(Execution).where(Execution.recommendation_id == rec_id)
        ).first()
        assert run.id is not None
        self.events: list[TrailEvent] = trail_for_subject(session, subject=drill_subject(run.id))

    def kinds(self, kind: str) -> list[TrailEvent]:
        return [event for event in self.events if event.kind == kind]

    @property
    def dry_run_validated(self) -> bool:
        """The dry run ran as a dry run, said what would have run, and called nothing."""
        execution = self.execution
        return (
            execution is not None
            and execution.dry_run
            and execution.state == "succeeded"
            and execution.result.get("outcome") == "dry_run"
            and bool(execution.result.get("target"))
        )

    def facts(self, runbook: Runbook, drill: Drill) -> DrillFacts:
        results = self.run.results
        criterion = runbook.criterion(drill.scenario.metric)
        sustain = criterion.sustain if criterion is not None else 1
        rec = self.recommendation
        return DrillFacts(
            timeout=drill.timeout,
            interval=drill.scenario.interval,
            sustain_samples=sustain if isinstance(sustain, int) else None,
            sustain_duration=sustain if isinstance(sustain, timedelta) else None,
            first_beyond_at=when(results.get("first_beyond_at")),
            detected_at=rec.created_at if rec else None,
            recommended_path=results.get("recommended_path"),
            expected_path=drill.expected_path,
            first_click_at=self.votes[0].created_at if self.votes else None,
            decided_at=when(results.get("decided_at")),
            outcome=str(results.get("outcome", "timed_out")),
            approved_path=rec.path_id if rec and results.get("outcome") == "approved" else None,
            refusals=len(self.kinds("approval.refused")),
            dry_run_validated=self.dry_run_validated,
        )

    def participants(self) -> list[Participant]:
        people: dict[str, Participant] = {}
        for vote in self.votes:
            person = people.setdefault(vote.user_id, {"user": vote.user_id, "roles": [],
                                                      "actions": []})  # fmt: skip
            person["roles"] = sorted(r for r in (vote.role or "").split(",") if r)
            person["actions"].append("approved" if vote.decision == "approve" else "rejected")
        for event in self.kinds("approval.refused"):
            person = people.setdefault(event.actor, {"user": event.actor, "roles": [],
                                                     "actions": []})  # fmt: skip
            why = str(event.payload.get("why", ""))
            person["actions"].append(f"refused ({WHY_REFUSED.get(why, why)})")
        return list(people.values())


def report_context(
    runbook: Runbook, drill: Drill, record: RunRecord, result: DrillScore
) -> DrillReportContext:
    run, facts = record.run, record.facts(runbook, drill)
    assert run.id is not None
    detected, first = facts.detected_at, facts.first_beyond_at
    if detected is None:
        detection = "the breach was not detected"
    elif first is None:
        detection = f"recommended at {detected.isoformat()}"
    else:
        detection = (
            f"recommended {format_duration(detected - first)} after the first value beyond the "
            f"margin (the criterion's sustain allows {_sustain(facts)})"
        )
    outcome_text = OUTCOME_TEXT.get(facts.outcome, facts.outcome)
    if facts.outcome == "aborted" and run.results.get("abort_reason"):
        outcome_text += f": {run.results['abort_reason']}"
    execution = record.execution
    if execution is None:
        dry_run = "nothing ran"
    else:
        detail = str(execution.result.get("detail") or execution.state)
        dry_run = detail + (" Validated." if record.dry_run_validated else " Not validated.")
    escalated = sorted({r for e in record.kinds("approval.escalated")
                        for r in e.payload.get("roles", [])})  # fmt: skip
    return {
        "runbook": runbook_ref(runbook),
        "drill_run_id": str(run.id),
        "drill": {"id": drill.id, "title": drill.title},
        "started_at": iso(run.started_at),
        "outcome": facts.outcome,
        "outcome_text": outcome_text,
        "detection": detection,
        "acknowledged_by": record.votes[0].user_id if record.votes else None,
        "time_to_acknowledge_seconds": _seconds(facts.detected_at, facts.first_click_at),
        "time_to_decision_seconds": _seconds(facts.detected_at, facts.decided_at)
        if facts.outcome in ("approved", "rejected") else None,
        "recommended_path": facts.recommended_path,
        "chosen_path": facts.approved_path,
        "expected_path": facts.expected_path,
        "participants": record.participants(),
        "escalated_to": escalated,
        "refusals": [
            {"user": e.actor, "why": WHY_REFUSED.get(str(e.payload.get("why")), "refused")}
            for e in record.kinds("approval.refused")
        ],
        "dry_run": dry_run,
        "score": result.total,
        "score_arithmetic": result.arithmetic,
        "score_parts": [
            {"name": p.name, "points": p.points, "out_of": p.out_of, "arithmetic": p.arithmetic}
            for p in result.parts
        ],
        "notes": None,
    }


def scored(runbook: Runbook, drill: Drill, record: RunRecord) -> tuple[DrillScore, DrillFacts]:
    facts = record.facts(runbook, drill)
    return score(facts), facts


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _sustain(facts: DrillFacts) -> str:
    if facts.sustain_duration is not None:
        return format_duration(facts.sustain_duration)
    return f"{facts.sustain_samples} samples at {format_duration(facts.interval)}"

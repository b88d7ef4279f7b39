"""The process-health fold on event sequences worked out by hand: intervals, percentiles,
counts, drills (events of the drills work), drill rollbacks kept apart, ranges cut mid-story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.learning_events import LearningEvent
from bot.core.process_health import ALL, health_report, percentile
from bot.core.process_health_format import comparison_rows, explain_lines, report_markdown

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Trail:
    def __init__(self) -> None:
        self.events: list[LearningEvent] = []

    def add(self, minutes: float, kind: str, subject: str, runbook: str = "ranking-model",
            **payload: Any) -> None:  # fmt: skip
        self.events.append(
            LearningEvent(
                seq=len(self.events) + 1, kind=kind, subject=subject, runbook_id=runbook,
                actor="releasebot", actor_role=None, at=T0 + timedelta(minutes=minutes),
                payload=payload,
            )
        )  # fmt: skip


def rollback(
    trail: Trail,
    start: float,
    number: int,
    *,
    vote: float,
    decide: float,
    recovered: bool,
    runbook: str = "ranking-model",
    **recommended: Any,
) -> None:
    subject = f"rollback:{number}"
    trail.add(start, "rollback.recommended", subject, runbook, path="previous-model", **recommended)
    trail.add(start + vote, "approval.approve", subject, runbook)
    trail.add(start + vote + 1, "approval.approve", subject, runbook)  # not a first vote
    trail.add(start + decide, "rollback.approved", subject, runbook)
    trail.add(start + decide + 0.5, "rollback.executed", subject, runbook, outcome="succeeded",
              path="previous-model")  # fmt: skip
    trail.add(start + decide + 20, "rollback.validated", subject, runbook,
              outcome="recovered" if recovered else "not_recovered")  # fmt: skip


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 90) == 9.0 and percentile(values, 50) == 5.0
    assert percentile([7.0], 90) == 7.0 and percentile([1.0, 2.0], 90) == 2.0


def test_rollback_figures_by_hand() -> None:
    trail = Trail()
    rollback(trail, 0, 1, vote=2, decide=4, recovered=True)
    rollback(trail, 100, 2, vote=6, decide=10, recovered=False)
    rollback(trail, 200, 3, vote=1, decide=3, recovered=True)
    rollback(trail, 300, 4, vote=30, decide=40, recovered=True, drill_run_id=7)  # a drill's
    report = health_report(trail.events)

    first_vote = report.figure("ranking-model", "first_vote")
    assert (first_vote.count, first_vote.median, first_vote.p90) == (3, 120.0, 360.0)
    quorum = report.figure("ranking-model", "quorum")
    assert (quorum.count, quorum.median, quorum.p90) == (3, 240.0, 600.0)
    execution = report.figure("ranking-model", "execution")
    assert (execution.count, execution.median) == (3, 30.0)
    recovery = report.figure("ranking-model", "recovery")  # recovered ones: 24 and 23 min
    assert (recovery.count, recovery.median, recovery.p90) == (2, 23.5 * 60, 24 * 60.0)
    for name, count in (("rollbacks_recommended", 3), ("rollbacks_approved", 3),
                        ("rollbacks_executed", 3), ("rollbacks_validated", 3),
                        ("rollbacks_recovered", 2)):  # fmt: skip
        assert report.figure("ranking-model", name).count == count, name
    assert report.recovered_share("ranking-model") == 2 / 3
    assert report.paths["ranking-model"] == {"previous-model": 3}
    lines = explain_lines(report, "quorum")
    assert lines[1:] == [
        "ranking-model  rollback:1 4.0 min  events #1 → #4",
        "ranking-model  rollback:2 10.0 min  events #7 → #10",
        "ranking-model  rollback:3 3.0 min  events #13 → #16",
    ]


def test_reviews_drills_and_several_runbooks() -> None:
    trail = Trail()
    release = "release:fraud-model:v1.0.0"
    trail.add(0, "release.started", release, "fraud-model")
    trail.add(45, "go_no_go.requested", release, "fraud-model")
    trail.add(50, "approval.approve", release, "fraud-model")  # a go/no-go vote: no rollback
    trail.add(75, "go_no_go.approved", release, "fraud-model")
    trail.add(80, "drill.started", "drill:1", "ranking-model")
    trail.add(83, "drill.detected", "drill:1", "ranking-model")
    trail.add(92, "drill.decided", "drill:1", "ranking-model")
    trail.add(95, "drill.ended", "drill:1", "ranking-model")
    # The drills record the first response when they score the run, with the vote's time.
    first_vote = (T0 + timedelta(minutes=85)).isoformat()
    trail.add(96, "drill.first_response", "drill:1", "ranking-model", at=first_vote)
    trail.add(96, "drill.scored", "drill:1", "ranking-model", score=85)
    report = health_report(trail.events)

    assert report.runbooks() == ["fraud-model", "ranking-model"]
    assert report.figure("fraud-model", "readiness").median == 45 * 60.0
    assert report.figure("fraud-model", "go_no_go_decision").median == 30 * 60.0
    assert report.figure("fraud-model", "first_vote").count == 0
    assert report.figure("ranking-model", "drill_detection").median == 180.0
    # as the drill's own report: from its recommendation (drill.detected, minute 83)
    assert report.figure("ranking-model", "drill_first_response").median == 120.0
    assert report.figure("ranking-model", "drill_decision").median == 540.0
    assert report.figure("ranking-model", "drill_score").median == 85.0
    assert report.figure(ALL, "drills_started").count == 1
    text = report_markdown(report)
    assert "## Runbook fraud-model" in text and "## All runbooks" in text
    assert "| readiness review start → all gates marked (`readiness`) | 1 | 45.0 min |" in text


def test_a_range_that_starts_mid_story_measures_nothing_from_before_it() -> None:
    trail = Trail()
    rollback(trail, 0, 1, vote=2, decide=4, recovered=True)
    cut = [e for e in trail.events if e.kind != "rollback.recommended"]
    report = health_report(cut)
    assert report.figure("ranking-model", "first_vote").count == 0
    assert report.figure("ranking-model", "quorum").count == 0
    assert report.figure("ranking-model", "rollbacks_recommended").count == 0


def test_the_comparison_of_two_periods() -> None:
    now, before = Trail(), Trail()
    rollback(now, 0, 1, vote=2, decide=4, recovered=True)
    rows = comparison_rows(health_report(now.events), health_report(before.events))
    assert (
        "breach detected (recommendation) → first vote",
        "2.0 min (p90 2.0 min), n=1",
        "-",
    ) in rows
    assert ("rollbacks recommended", "1", "0") in rows
    assert all("drill" not in name for name, _, _ in rows)  # neither period has any

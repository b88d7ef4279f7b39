"""The contexts of the drill templates (``drill_start``, ``drill_report``)."""

from __future__ import annotations

from typing import TypedDict

from bot.render.context_base import RunbookRef, When


class DrillRef(TypedDict):
    id: str
    title: str


class DrillStartContext(TypedDict):
    runbook: RunbookRef
    drill_run_id: str
    drill: DrillRef
    metric: str
    scenario_values: list[float]
    interval: str
    started_at: When
    started_by: str | None  # None when the schedule started it
    timeout: str
    expected_path: str | None


class Participant(TypedDict):
    user: str
    roles: list[str]
    actions: list[str]


class RefusalView(TypedDict):
    user: str
    why: str


class ScorePartView(TypedDict):
    name: str
    points: int
    out_of: int
    arithmetic: str


class DrillReportContext(TypedDict):
    runbook: RunbookRef
    drill_run_id: str
    drill: DrillRef
    started_at: When
    outcome: str  # approved | rejected | timed_out | expired | aborted
    outcome_text: str  # the outcome for a person, with an abort's reason
    detection: str  # was the breach detected, and how long after the first value beyond
    acknowledged_by: str | None
    time_to_acknowledge_seconds: float | None
    time_to_decision_seconds: float | None
    recommended_path: str | None
    chosen_path: str | None
    expected_path: str | None
    participants: list[Participant]
    escalated_to: list[str]
    refusals: list[RefusalView]
    dry_run: str  # what would have run, and whether it was validated
    score: int
    score_arithmetic: str
    score_parts: list[ScorePartView]
    notes: str | None


class HomeDrillRun(TypedDict):
    drill_id: str
    run_id: str
    started_at: When
    outcome: str
    score: int | None


class HomeDrills(TypedDict):
    """One runbook's recent drills on the App Home, newest first, and where scores go."""

    runbook: RunbookRef
    runs: list[HomeDrillRun]
    trend: str  # improving | worsening | steady | too few drills

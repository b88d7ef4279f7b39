"""A drill's page header: what was played (from ``drill.started``), how it ended (``drill.ended``)
and its report and score as the bot posted them (``drill.scored``'s ``report``), read from the
drill's own trail events so that the page says what the trail says.

The payloads were written by the drills service; they are read defensively (a missing or
oddly typed field shows as nothing), since an old or altered event must not break the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.durations import format_duration
from bot.core.trail import TrailEvent
from bot.web.timeline import PayloadRow, Timeline

REPORT_SHOWN = "laid out above, under Drill report (the JSON download holds it as recorded)"


@dataclass(frozen=True)
class ScorePart:
    name: str
    points: str
    out_of: str
    arithmetic: str


@dataclass(frozen=True)
class Participant:
    user: str
    roles: str
    actions: str


@dataclass(frozen=True)
class DrillReport:
    seq: int  # the drill.scored event it comes from
    score: str
    arithmetic: str
    outcome: str
    outcome_text: str
    detection: str
    paths: str  # recommended, chosen, expected
    first_response: str
    decision: str
    dry_run: str
    escalated_to: str
    parts: list[ScorePart] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)


@dataclass(frozen=True)
class DrillView:
    """What a person reads first on a drill's page."""

    title: str
    drill_id: str
    runbook_id: str
    started_at: datetime | None
    started_by: str  # a person's id, or "the schedule"
    scenario: str  # the metric and the values played
    expected_path: str
    ended: str  # "" while it runs
    report: DrillReport | None


def drill_view(events: Sequence[TrailEvent]) -> DrillView | None:
    """The drill's header from its events; None for a subject without ``drill.started`` (the
    refusals to start a drill, ``drill:RUNBOOK.DRILL``, have no run)."""
    started = _last(events, "drill.started")
    if started is None:
        return None
    played = started.payload
    ended = _last(events, "drill.ended")
    scored = _last(events, "drill.scored")
    report = _mapping(scored.payload.get("report")) if scored is not None else {}
    drill = _mapping(report.get("drill"))
    values = played.get("values")
    shown_values = ", ".join(_text(v) for v in values) if isinstance(values, list) else ""
    return DrillView(
        title=_text(drill.get("title")),
        drill_id=_text(played.get("drill")),
        runbook_id=_text(played.get("runbook")),
        started_at=started.at,
        started_by=_text(played.get("started_by")) or "the schedule",
        scenario=f"{_text(played.get('metric'))}: {shown_values}" if shown_values else "",
        expected_path=_text(played.get("expected_path")),
        ended=_ended(ended) if ended is not None else "",
        report=_report(scored, report) if scored is not None else None,
    )


def _ended(event: TrailEvent) -> str:
    state = _text(event.payload.get("state")).replace("_", " ")
    outcome = _text(event.payload.get("outcome")).replace("_", " ")
    reason = _text(event.payload.get("reason"))
    shown = f"{state} ({outcome})" if outcome and outcome != state else state
    return f"{shown}: {reason}" if reason else shown


def _report(scored: TrailEvent, report: Mapping[str, Any]) -> DrillReport:
    payload = scored.payload
    paths = [
        f"{label} {_text(report.get(key))}"
        for label, key in (("recommended", "recommended_path"), ("chosen", "chosen_path"),
                           ("expected", "expected_path"))
        if _text(report.get(key))
    ]  # fmt: skip
    acknowledged = _text(report.get("acknowledged_by"))
    first = _seconds(report.get("time_to_acknowledge_seconds"))
    return DrillReport(
        seq=scored.seq,
        score=_text(payload.get("score", report.get("score"))),
        arithmetic=_text(payload.get("arithmetic", report.get("score_arithmetic"))),
        outcome=_text(payload.get("outcome", report.get("outcome"))),
        outcome_text=_text(report.get("outcome_text")),
        detection=_text(report.get("detection")),
        paths=" · ".join(paths),
        first_response=f"{acknowledged}, {first} after the recommendation"
        if acknowledged and first
        else "nobody answered",
        decision=_seconds(report.get("time_to_decision_seconds")) or "no decision",
        dry_run=_text(report.get("dry_run")),
        escalated_to=", ".join(_texts(report.get("escalated_to"))),
        parts=[
            ScorePart(
                _text(p.get("name")),
                _text(p.get("points")),
                _text(p.get("out_of")),
                _text(p.get("arithmetic")),
            )
            for p in _mappings(report.get("score_parts"))
        ],
        participants=[
            Participant(
                _text(p.get("user")),
                ", ".join(_texts(p.get("roles"))),
                ", ".join(_texts(p.get("actions"))),
            )
            for p in _mappings(report.get("participants"))
        ],
    )


def _last(events: Sequence[TrailEvent], kind: str) -> TrailEvent | None:
    return next((e for e in reversed(events) if e.kind == kind), None)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    return [_text(v) for v in value] if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seconds(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return format_duration(timedelta(seconds=value))


def point_to_report(timeline: Timeline) -> None:
    """``drill.scored`` carries the whole report; the page lays it out once, at the top, and
    the timeline's event points there rather than repeating it."""
    for event in timeline.events:
        if event.kind == "drill.scored":
            event.rows[:] = [
                PayloadRow(row.label, REPORT_SHOWN) if row.label == "report" else row
                for row in event.rows
            ]

"""A drill's page header and nested payloads, from events as the trail holds them: the
report laid out from ``drill.scored``, a running drill, and payloads of an odd shape (an
older or altered event) shown as far as they go, never an error. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.trail import TrailEvent
from bot.web.drill_view import REPORT_SHOWN, drill_view, point_to_report
from bot.web.timeline import EventView, PayloadRow, Timeline, payload_rows

START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
HASH = "0" * 64


def event(seq: int, kind: str, payload: dict[str, Any], minutes: float = 0) -> TrailEvent:
    return TrailEvent(seq=seq, kind=kind, actor="releasebot", subject="drill:7",
                      payload=payload, at=START + timedelta(minutes=minutes),
                      prev_hash=HASH, hash=HASH)  # fmt: skip


STARTED = event(1, "drill.started", {
    "runbook": "ranking-model", "drill": "error-spike", "started_by": None,
    "metric": "error_rate", "values": [0.012, 0.031], "expected_path": "previous-model",
})  # fmt: skip


def test_a_running_drill_says_so() -> None:
    view = drill_view([STARTED])
    assert view is not None and view.report is None and view.ended == ""
    assert view.started_by == "the schedule" and view.drill_id == "error-spike"
    assert view.scenario == "error_rate: 0.012, 0.031" and view.runbook_id == "ranking-model"


def test_the_report_is_read_from_drill_scored() -> None:
    report = {
        "drill": {"id": "error-spike", "title": "Error-rate spike"},
        "outcome_text": "Aborted: a real breach", "detection": "the breach was not detected",
        "acknowledged_by": None, "time_to_acknowledge_seconds": None,
        "time_to_decision_seconds": None, "escalated_to": ["ml_lead"],
        "recommended_path": None, "dry_run": "nothing ran",
        "score_parts": [{"name": "detection", "points": 0, "out_of": 15, "arithmetic": "0"}],
        "participants": [],
    }  # fmt: skip
    events = [
        STARTED,
        event(
            2,
            "drill.ended",
            {"state": "aborted", "outcome": "aborted", "reason": "a real breach"},
            3,
        ),  # fmt: skip
        event(
            3,
            "drill.scored",
            {"score": 0, "arithmetic": "= 0", "outcome": "aborted", "report": report},
            3,
        ),  # fmt: skip
    ]
    view = drill_view(events)
    assert view is not None and view.report is not None
    assert view.title == "Error-rate spike" and view.ended == "aborted: a real breach"
    r = view.report
    assert (r.seq, r.score, r.arithmetic, r.outcome_text) == (
        3,
        "0",
        "= 0",
        "Aborted: a real breach",
    )
    assert r.first_response == "nobody answered" and r.decision == "no decision"
    assert r.escalated_to == "ml_lead" and r.paths == "" and r.participants == []
    assert [(p.name, p.points, p.out_of) for p in r.parts] == [("detection", "0", "15")]


def test_an_odd_payload_shows_what_it_can() -> None:
    odd = event(2, "drill.scored", {"score": "lots", "report": {
        "score_parts": "not a list", "participants": [None, 3, {"user": ["x"], "roles": "r"}],
        "drill": ["not", "a", "mapping"], "time_to_acknowledge_seconds": True,
        "acknowledged_by": {"a": 1},
    }})  # fmt: skip
    view = drill_view([event(1, "drill.started", {"values": "none"}), odd])
    assert view is not None and view.report is not None
    assert view.scenario == "" and view.title == "" and view.report.score == "lots"
    assert view.report.parts == [] and view.report.first_response == "nobody answered"
    assert [(p.user, p.roles) for p in view.report.participants] == [("", "")]
    assert drill_view([event(1, "drill.refused", {"why": "not_a_starter"})]) is None


def test_nested_objects_are_lists_and_the_report_is_pointed_to() -> None:
    rows = payload_rows({"result": {"outcome": "dry_run", "deep": {"deeper": {"x": 1}}},
                         "report": {"score": 91}})  # fmt: skip
    result = next(r for r in rows if r.label == "result")
    assert result.rows is not None
    deep = next(r for r in result.rows if r.label == "deep")
    assert deep.rows is not None and deep.rows[0] == PayloadRow(
        "deeper", "x: 1", multiline=True
    )  # two levels nested, the third as lines
    timeline = Timeline()
    timeline.events.append(EventView(seq=3, kind="drill.scored", at=START, actor="releasebot",
                                     actor_role=None, slack_url=None, rows=rows, hash=HASH,
                                     prev_hash=HASH, verdict="verified"))  # fmt: skip
    point_to_report(timeline)
    shown = {r.label: r for r in timeline.events[0].rows}
    assert shown["report"] == PayloadRow("report", REPORT_SHOWN) and shown["result"].rows

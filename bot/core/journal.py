"""The rollback journal: each approved rollback's expected outcome beside its actual one, and
the lessons recorded for it, folded from the trail's events (issue 18). Pure.

An entry starts at ``rollback.expected`` (recorded with the approval); ``rollback.executed``,
``rollback.validated`` (the actual outcome), ``rollback.endorsed`` and post-mortem events
(``postmortem.written`` / ``postmortem.added``, whose lessons are "what to change") fill it
in. Every entry keeps the sequence numbers of the events it was built from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.learning_events import LearningEvent, parse_time

JOURNAL_KINDS = (
    "rollback.recommended",
    "rollback.expected",
    "rollback.executed",
    "rollback.validated",
    "rollback.endorsed",
    "postmortem.written",
    "postmortem.added",
)


@dataclass
class Expected:
    metric: str
    direction: str | None
    inside: float | None
    window_seconds: float
    expected_by: datetime | None
    track_record: str


@dataclass
class Actual:
    recovered: bool
    outcome: str
    values: list[tuple[datetime | None, float]]
    values_seen: int
    minutes_to_recover: float | None
    validated_at: datetime


@dataclass
class JournalEntry:
    subject: str
    runbook_id: str | None
    path: str | None
    drill: bool
    reason: str | None = None
    recommended_at: datetime | None = None
    approved_at: datetime | None = None
    expected: Expected | None = None
    executed_at: datetime | None = None
    actual: Actual | None = None
    endorsed_by: str | None = None
    endorsed_role: str | None = None
    endorsed_at: datetime | None = None
    lessons: list[str] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)

    @property
    def recovered(self) -> bool | None:
        return None if self.actual is None else self.actual.recovered


def build_journal(events: Iterable[LearningEvent]) -> list[JournalEntry]:
    """The journal entries of ``events`` (in chain order), oldest approval first. Rollbacks
    never approved have no entry; their recommendation is forgotten as soon as it is known
    to be undecided at the end (only the approved ones are kept)."""
    recommended: dict[str, LearningEvent] = {}
    entries: dict[str, JournalEntry] = {}
    for event in events:
        if event.kind == "rollback.recommended":
            recommended[event.subject] = event
            continue
        if event.kind == "rollback.expected":
            entries[event.subject] = _start(event, recommended.pop(event.subject, None))
            continue
        entry = entries.get(event.subject)
        if entry is not None:
            _fill(entry, event)
    return sorted(entries.values(), key=lambda entry: entry.sources[0])


def _start(event: LearningEvent, recommendation: LearningEvent | None) -> JournalEntry:
    p = event.payload
    entry = JournalEntry(
        subject=event.subject,
        runbook_id=event.runbook_id or _text(p.get("runbook")),
        path=_text(p.get("path")),
        drill=bool(p.get("drill")),
        approved_at=event.at,
        expected=Expected(
            metric=str(p.get("metric", "")),
            direction=_text(p.get("direction")),
            inside=_number(p.get("inside")),
            window_seconds=_number(p.get("window_seconds")) or 0.0,
            expected_by=parse_time(p.get("expected_by")),
            track_record=str(p.get("track_record", "no past uses")),
        ),
    )
    if recommendation is not None:
        entry.reason = _text(recommendation.payload.get("reason"))
        entry.recommended_at = recommendation.at
        entry.sources.append(recommendation.seq)
    entry.sources.append(event.seq)
    return entry


def _fill(entry: JournalEntry, event: LearningEvent) -> None:
    p = event.payload
    if event.kind == "rollback.executed":
        entry.executed_at = event.at
    elif event.kind == "rollback.validated":
        entry.actual = Actual(
            recovered=bool(p.get("recovered", p.get("outcome") == "recovered")),
            outcome=str(p.get("outcome", "")),
            values=[_value(item) for item in p.get("values", []) if _is_pair(item)],
            values_seen=int(p.get("values_seen", 0) or 0),
            minutes_to_recover=_number(p.get("minutes_to_recover")),
            validated_at=event.at,
        )
    elif event.kind == "rollback.endorsed":
        entry.endorsed_by, entry.endorsed_role = event.actor, event.actor_role
        entry.endorsed_at = event.at
    elif event.kind in ("postmortem.written", "postmortem.added"):
        lesson = _text(p.get("what_to_change"))
        if lesson:
            entry.lessons.append(lesson)
    else:
        return
    entry.sources.append(event.seq)


def _is_pair(item: Any) -> bool:
    return isinstance(item, list | tuple) and len(item) == 2


def _value(item: Any) -> tuple[datetime | None, float]:
    return parse_time(item[0]), float(item[1])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

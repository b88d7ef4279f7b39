"""Process-health figures folded from the trail's events (issue 18). Pure.

Each duration is measured between two events of one subject and keeps both events' sequence
numbers, so every figure can be traced back (``--explain``). The fold is incremental
(``HealthFold.feed`` one event at a time, in chain order): it holds only the subjects whose
story is still open and one observation per finished interval, never the trail, so the same
fold serves ``releasebot report`` (a range of the trail) and ``/metrics`` (the whole trail,
then each event as it comes).

Intervals (start event → end event, per subject):

- ``readiness``: ``release.started`` → all gates marked (``go_no_go.requested`` or
  ``release.blocked``);
- ``go_no_go_decision``: ``go_no_go.requested`` → ``go_no_go.approved|rejected|expired``;
- ``first_vote``: ``rollback.recommended`` (the breach detected and the recommendation
  posted are one moment) → the first ``approval.approve|reject``;
- ``quorum``: ``rollback.recommended`` → ``rollback.approved|rejected``;
- ``execution``: ``rollback.approved`` → ``rollback.executed``;
- ``recovery``: ``rollback.recommended`` → ``rollback.validated`` that recovered;
- ``drill_detection``: ``drill.started`` → ``drill.detected`` (the drill's recommendation);
- ``drill_first_response``, ``drill_decision``: ``drill.detected`` → ``drill.first_response``
  (at the vote's time), ``drill.decided``: as the drill's own report measures them.

Counts: rollbacks recommended, approved, executed (also per path), validated, recovered;
drills started; and drill scores (``drill.scored``'s ``score``) as values. Rollbacks of a
drill (events of a ``drill:ID`` subject, or a ``drill``/``drill_run_id`` in their
recommendation's payload) are left out of the rollback figures: drills have their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from bot.core.learning_events import LearningEvent, parse_time

DURATIONS = (
    "readiness",
    "go_no_go_decision",
    "first_vote",
    "quorum",
    "execution",
    "recovery",
    "drill_detection",
    "drill_first_response",
    "drill_decision",
)
VALUES = ("drill_score",)
COUNTS = (
    "rollbacks_recommended",
    "rollbacks_approved",
    "rollbacks_executed",
    "rollbacks_validated",
    "rollbacks_recovered",
    "drills_started",
)
FIGURES = DURATIONS + VALUES + COUNTS
DESCRIPTIONS = {
    "readiness": "readiness review start → all gates marked",
    "go_no_go_decision": "go/no-go request → decision",
    "first_vote": "breach detected (recommendation) → first vote",
    "quorum": "breach detected (recommendation) → approval decided",
    "execution": "rollback approved → executed",
    "recovery": "breach detected (recommendation) → validated recovery",
    "drill_detection": "drill started → detected",
    "drill_first_response": "drill recommendation → first response",
    "drill_decision": "drill recommendation → decision",
    "drill_score": "drill scores",
    "rollbacks_recommended": "rollbacks recommended",
    "rollbacks_approved": "rollbacks approved",
    "rollbacks_executed": "rollbacks executed",
    "rollbacks_validated": "rollbacks validated",
    "rollbacks_recovered": "rollbacks that recovered",
    "drills_started": "drills started",
}
# end event kind -> (figure, start event kind(s)); the interval is taken once per subject
_ENDS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "go_no_go.requested": [("readiness", ("release.started",))],
    "release.blocked": [("readiness", ("release.started",))],
    "go_no_go.approved": [("go_no_go_decision", ("go_no_go.requested",))],
    "go_no_go.rejected": [("go_no_go_decision", ("go_no_go.requested",))],
    "go_no_go.expired": [("go_no_go_decision", ("go_no_go.requested",))],
    "approval.approve": [("first_vote", ("rollback.recommended",))],
    "approval.reject": [("first_vote", ("rollback.recommended",))],
    "rollback.approved": [("quorum", ("rollback.recommended",))],
    "rollback.rejected": [("quorum", ("rollback.recommended",))],
    "rollback.executed": [("execution", ("rollback.approved",))],
    "drill.detected": [("drill_detection", ("drill.started",))],
    "drill.first_response": [("drill_first_response", ("drill.detected",))],
    "drill.decided": [("drill_decision", ("drill.detected",))],
}
_STARTS = {
    "release.started",
    "go_no_go.requested",
    "rollback.recommended",
    "rollback.approved",
    "drill.started",
    "drill.detected",
}
_FINAL = {
    "go_no_go.approved", "go_no_go.rejected", "go_no_go.expired", "release.blocked",
    "release.cancelled", "rollback.rejected", "rollback.expired", "rollback.superseded",
    "rollback.cancelled", "rollback.validated", "drill.scored", "drill.aborted",
    "drill.stopped",
}  # fmt: skip
HEALTH_KINDS = tuple(
    sorted(
        set(_ENDS) | _STARTS | _FINAL
        | {"rollback.executed", "rollback.validated", "drill.scored"}
    )
)  # fmt: skip
ALL = "*"  # the key of the figures over every runbook


@dataclass(frozen=True)
class Observation:
    """One measured interval (seconds) or value, and the events it came from."""

    figure: str
    runbook: str
    value: float
    subject: str
    sources: tuple[int, ...]
    path: str | None = None


@dataclass
class _Open:
    runbook: str
    drill: bool = False
    starts: dict[str, LearningEvent] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)


Sink = Callable[[Observation], None]


class HealthFold:
    """Feed events in chain order; each finished interval, count or value goes to ``sink``."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.open: dict[str, _Open] = {}

    def feed(self, event: LearningEvent) -> None:
        if event.kind == "drill.scored":  # may come after the drill ended
            self._score(event)
        story = self.open.get(event.subject)
        if story is None:
            if event.kind not in _STARTS:
                return  # its start lies before the range read: nothing to measure
            story = self.open[event.subject] = _Open(
                runbook=_runbook(event), drill=event.subject.startswith("drill:")
            )
        if event.runbook_id and story.runbook == "?":
            story.runbook = event.runbook_id
        if event.kind == "rollback.recommended":
            story.drill = story.drill or bool(
                event.payload.get("drill") or event.payload.get("drill_run_id")
            )
        for figure, starts in _ENDS.get(event.kind, ()):
            self._interval(story, figure, starts, event)
        self._count(story, event)
        if event.kind in _STARTS:
            story.starts.setdefault(event.kind, event)
        if event.kind in _FINAL:
            del self.open[event.subject]

    def _interval(
        self, story: _Open, figure: str, starts: tuple[str, ...], end: LearningEvent
    ) -> None:
        if figure in story.taken or _is_rollback_figure(figure) and story.drill:
            return
        start = next((story.starts[k] for k in starts if k in story.starts), None)
        if start is None:
            return
        story.taken.add(figure)
        seconds = (_happened_at(end) - start.at).total_seconds()
        self._emit(figure, story, seconds, end.subject, (start.seq, end.seq))

    def _count(self, story: _Open, event: LearningEvent) -> None:
        kind, payload = event.kind, event.payload
        if kind == "drill.started":
            self._emit("drills_started", story, 1, event.subject, (event.seq,))
        if story.drill or not kind.startswith("rollback."):
            return
        if kind == "rollback.recommended":
            self._emit("rollbacks_recommended", story, 1, event.subject, (event.seq,))
        elif kind == "rollback.approved":
            self._emit("rollbacks_approved", story, 1, event.subject, (event.seq,))
        elif kind == "rollback.executed" and payload.get("outcome") in ("succeeded", "dry_run"):
            path = payload.get("path")
            self._emit(
                "rollbacks_executed", story, 1, event.subject, (event.seq,),
                path=path if isinstance(path, str) else None,
            )  # fmt: skip
        elif kind == "rollback.validated":
            self._emit("rollbacks_validated", story, 1, event.subject, (event.seq,))
            if payload.get("outcome") == "recovered":
                self._emit("rollbacks_recovered", story, 1, event.subject, (event.seq,))
                start = story.starts.get("rollback.recommended")
                if start is not None:
                    seconds = (event.at - start.at).total_seconds()
                    self._emit("recovery", story, seconds, event.subject, (start.seq, event.seq))

    def _score(self, event: LearningEvent) -> None:
        score = event.payload.get("score")
        if isinstance(score, int | float) and _is_number(score):
            self.sink(
                Observation("drill_score", _runbook(event), float(score), event.subject,
                            (event.seq,))
            )  # fmt: skip

    def _emit(
        self, figure: str, story: _Open, value: float, subject: str, sources: tuple[int, ...],
        path: str | None = None,
    ) -> None:  # fmt: skip
        self.sink(Observation(figure, story.runbook, value, subject, sources, path))


def _happened_at(event: LearningEvent) -> datetime:
    """When what ``event`` records happened: its payload's ``at`` when it carries one (the
    drills record ``drill.first_response`` when they score, with the vote's time), else its own
    time."""
    found = parse_time(event.payload.get("at")) if "at" in event.payload else None
    return found if found is not None and found.tzinfo is not None else event.at


def _is_rollback_figure(figure: str) -> bool:
    return figure in ("first_vote", "quorum", "execution", "recovery")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _runbook(event: LearningEvent) -> str:
    found = event.runbook_id or event.payload.get("runbook")
    return found if isinstance(found, str) and found else "?"


# --- the report: figures per runbook ------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A figure of one runbook: its count, and for durations and values median and p90."""

    name: str
    count: int
    median: float | None = None
    p90: float | None = None


@dataclass
class HealthReport:
    """Observations gathered per runbook (and over all, ``ALL``), kept for ``--explain``."""

    observations: dict[str, dict[str, list[Observation]]] = field(default_factory=dict)
    paths: dict[str, dict[str, int]] = field(default_factory=dict)
    keep_sources: bool = True

    def add(self, observation: Observation) -> None:
        for runbook in (observation.runbook, ALL):
            figures = self.observations.setdefault(runbook, {})
            figures.setdefault(observation.figure, []).append(observation)
            if observation.figure == "rollbacks_executed" and observation.path:
                by_path = self.paths.setdefault(runbook, {})
                by_path[observation.path] = by_path.get(observation.path, 0) + 1

    def runbooks(self) -> list[str]:
        return sorted(name for name in self.observations if name != ALL)

    def figure(self, runbook: str, name: str) -> Figure:
        found = self.observations.get(runbook, {}).get(name, [])
        if name in COUNTS:
            return Figure(name, len(found))
        values = sorted(o.value for o in found)
        if not values:
            return Figure(name, 0)
        return Figure(name, len(values), float(median(values)), percentile(values, 90))

    def recovered_share(self, runbook: str) -> float | None:
        validated = self.figure(runbook, "rollbacks_validated").count
        if not validated:
            return None
        return self.figure(runbook, "rollbacks_recovered").count / validated

    def sources(self, name: str, runbook: str | None = None) -> list[Observation]:
        return list(self.observations.get(runbook or ALL, {}).get(name, []))


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q% of values <= it."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def health_report(events: Iterable[LearningEvent]) -> HealthReport:
    report = HealthReport()
    fold = HealthFold(report.add)
    for event in events:
        fold.feed(event)
    return report

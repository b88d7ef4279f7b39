"""What the trail says about each subject, folded from its events: the subjects index's rows.

A subject (``release:RUNBOOK:VERSION``, ``rollback:ID``, ``drill:ID``) is listed with its kind,
runbook, the name people search for (the version, or the id), its status and outcome, and the
first and last event. Status and outcome follow the events that decide something (a go/no-go,
an approval, an execution, a validation); every other event only moves the dates and the count.
Pure: the store folds each batch of appended events with ``fold_events`` and merges the result
into its rows (``merge``), so the index never needs the whole trail.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.core.subjects import SubjectKind, parse_subject

# event kind -> (status, outcome); an outcome of None keeps the outcome already known.
_STATUS: dict[str, tuple[str, str | None]] = {
    "release.started": ("reviewing", None),
    "go_no_go.requested": ("awaiting go/no-go", None),
    "go_no_go.approved": ("go", "go"),
    "go_no_go.rejected": ("no-go", "no-go"),
    "go_no_go.expired": ("expired", "go/no-go expired"),
    "release.blocked": ("no-go", "blocked by failed gates"),
    "release.cancelled": ("cancelled", "cancelled"),
    "rollback.recommended": ("pending", None),
    "rollback.held": ("held", None),
    "rollback.approved": ("approved", None),
    "rollback.rejected": ("rejected", "rejected"),
    "rollback.expired": ("expired", "expired undecided"),
    "rollback.superseded": ("superseded", "superseded"),
    "rollback.cancelled": ("cancelled", "cancelled"),
    "rollback.endorsed": ("endorsed", None),
    "rollback.execution_unknown": ("outcome unknown", "execution outcome unknown"),
    "drill.started": ("running", None),
    "drill.acknowledged": ("running", None),
    "drill.completed": ("completed", "completed"),
    "drill.scored": ("completed", None),  # replaced by status_after below
    "drill.aborted": ("aborted", "aborted"),
    "drill.stopped": ("stopped", "stopped"),
    "drill.detected": ("breach detected", None),
    "drill.approved": ("approved", "approved"),
    "drill.rejected": ("rejected", "rejected"),
    "drill.expired": ("expired", "expired undecided"),
    "drill.refused": ("refused", "refused"),  # drill:RUNBOOK.DRILL: starts refused
}
_EXECUTED = {
    "succeeded": ("executed", None),
    "dry_run": ("executed (dry run)", None),
}


@dataclass(frozen=True)
class EventFacts:
    """The parts of one trail event the index reads."""

    seq: int
    kind: str
    subject: str
    payload: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class SubjectSummary:
    """One subject as listed (or what one batch of events adds to it: see ``merge``)."""

    subject: str
    kind: str
    runbook_id: str | None
    name: str
    status: str | None
    outcome: str | None
    first_seq: int
    last_seq: int
    first_at: datetime
    last_at: datetime
    events: int

    def merge(self, later: SubjectSummary) -> SubjectSummary:
        """This summary followed by ``later`` (events of the same subject, appended after)."""
        return replace(
            self,
            runbook_id=self.runbook_id or later.runbook_id,
            status=later.status or self.status,
            outcome=later.outcome or self.outcome,
            last_seq=later.last_seq,
            last_at=later.last_at,
            events=self.events + later.events,
        )


STATUS_KINDS = frozenset(_STATUS) | {
    "rollback.executed", "rollback.validated", "drill.ended", "drill.scored",
}  # fmt: skip


def status_after(kind: str, payload: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """The (status, outcome) an event of ``kind`` leaves its subject in; None: unchanged."""
    if kind == "rollback.executed":
        outcome = str(payload.get("outcome") or "")
        return _EXECUTED.get(outcome, ("execution failed", f"execution {outcome or 'failed'}"))
    if kind == "rollback.validated":
        outcome = str(payload.get("outcome") or "unknown").replace("_", " ")
        return ("validated" if outcome == "recovered" else "not validated", outcome)
    if kind == "drill.ended":
        state = str(payload.get("state") or "ended").replace("_", " ")
        outcome = str(payload.get("outcome") or state).replace("_", " ")
        return state, outcome
    if kind == "drill.scored":
        return "reported", f"{str(payload.get('outcome') or '').replace('_', ' ')}, " \
            f"score {payload.get('score')}/100"
    return _STATUS.get(kind)


def summarise(event: EventFacts) -> SubjectSummary:
    """The summary of a subject that has only this event."""
    single = bare_summary(event.subject, (event.seq, event.at), (event.seq, event.at), 1)
    return with_event(single, event.kind, event.payload)


def bare_summary(
    subject_text: str, first: tuple[int, datetime], last: tuple[int, datetime], events: int
) -> SubjectSummary:
    """A subject's summary from its first and last events (seq, time) and their count, before
    any status: what its name says (the kind; a release's runbook and version)."""
    subject = parse_subject(subject_text)
    release = subject.kind is SubjectKind.RELEASE
    return SubjectSummary(
        subject=str(subject),
        kind=subject.kind.value,
        runbook_id=subject.parts[0] if release else None,
        name=subject.parts[-1],
        status=None,
        outcome=None,
        first_seq=first[0],
        last_seq=last[0],
        first_at=first[1],
        last_at=last[1],
        events=events,
    )


def with_event(summary: SubjectSummary, kind: str, payload: Mapping[str, Any]) -> SubjectSummary:
    """``summary`` after an event of ``kind`` (its status, and a runbook it names)."""
    found = payload.get("runbook")
    runbook_id = summary.runbook_id or (found if isinstance(found, str) else None)
    status, outcome = status_after(kind, payload) or (None, None)
    return replace(
        summary,
        runbook_id=runbook_id,
        status=status or summary.status,
        outcome=outcome or summary.outcome,
    )


def fold_events(events: Iterable[EventFacts]) -> list[SubjectSummary]:
    """One summary per subject of ``events`` (given in seq order), in order of first event."""
    folded: dict[str, _Fold] = {}
    for event in events:
        known = folded.get(event.subject)
        if known is None:
            folded[event.subject] = _Fold(summarise(event))
        else:
            known.add(event)
    return [fold.summary() for fold in folded.values()]


class _Fold:
    """A subject's summary being built (mutable: one object per subject, not per event)."""

    __slots__ = ("first", "runbook_id", "status", "outcome", "last_seq", "last_at", "events")

    def __init__(self, first: SubjectSummary) -> None:
        self.first = first
        self.runbook_id, self.status, self.outcome = first.runbook_id, first.status, first.outcome
        self.last_seq, self.last_at, self.events = first.last_seq, first.last_at, 1

    def add(self, event: EventFacts) -> None:
        self.last_seq, self.last_at, self.events = event.seq, event.at, self.events + 1
        if self.runbook_id is None and isinstance(event.payload.get("runbook"), str):
            self.runbook_id = event.payload["runbook"]
        change = status_after(event.kind, event.payload)
        if change is not None:
            self.status = change[0]
            self.outcome = change[1] or self.outcome

    def summary(self) -> SubjectSummary:
        return replace(
            self.first,
            runbook_id=self.runbook_id,
            status=self.status,
            outcome=self.outcome,
            last_seq=self.last_seq,
            last_at=self.last_at,
            events=self.events,
        )


def suggest_subjects(typed: str, known: Sequence[str], *, limit: int = 3) -> list[str]:
    """Known subjects close to ``typed`` (a near-miss: a typo, a missing ``v``), best first.

    Subjects of the typed kind are compared by what follows the kind, so that the shared
    ``rollback:`` does not make every rollback look close to every other.
    """
    kind, colon, rest = typed.strip().partition(":")
    if colon and kind.lower() in {k.value for k in SubjectKind}:
        prefix = kind.lower() + ":"
        by_rest = {s[len(prefix) :]: s for s in known if s.startswith(prefix)}
        close = difflib.get_close_matches(rest.strip(), list(by_rest), n=limit, cutoff=0.6)
        return [by_rest[match] for match in close]
    return difflib.get_close_matches(typed, known, n=limit, cutoff=0.6)

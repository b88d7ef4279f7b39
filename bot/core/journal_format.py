"""The rollback journal as a person reads it (Markdown) and as tools read it (JSON). Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.journal import JournalEntry


def _time(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def expected_text(entry: JournalEntry) -> str:
    expected = entry.expected
    if expected is None:
        return "-"
    side = "under" if expected.direction == "above" else "over"
    bound = "?" if expected.inside is None else f"{expected.inside:g}"
    return (
        f"{expected.metric} back {side} {bound} within {_duration(expected.window_seconds)} "
        f"of execution (by about {_time(expected.expected_by)}); "
        f"track record then: {expected.track_record}"
    )


def actual_text(entry: JournalEntry) -> str:
    actual = entry.actual
    if actual is None:
        if entry.executed_at is None:
            return "not executed yet"
        return f"executed {_time(entry.executed_at)}; validation not finished"
    values = ", ".join(f"{value:g}" for _, value in actual.values) or "none"
    if actual.values_seen > len(actual.values):
        values = f"… {values} (latest {len(actual.values)} of {actual.values_seen})"
    if actual.recovered:
        when = (
            f" in {actual.minutes_to_recover:g} min"
            if actual.minutes_to_recover is not None
            else ""
        )
        verdict = f"recovered{when}"
    else:
        verdict = f"did not recover ({actual.outcome})"
    return f"{verdict}; values seen: {values}"


def endorsed_text(entry: JournalEntry) -> str:
    if entry.endorsed_by is None:
        return "not endorsed yet"
    role = f" ({entry.endorsed_role})" if entry.endorsed_role else ""
    return f"{entry.endorsed_by}{role} at {_time(entry.endorsed_at)}"


def journal_markdown(entries: Sequence[JournalEntry]) -> str:
    if not entries:
        return "# Rollback journal\n\nNo approved rollbacks in the trail for this selection.\n"
    lines = ["# Rollback journal", ""]
    for entry in reversed(entries):  # newest first
        drill = " (drill)" if entry.drill else ""
        lines += [
            f"## {entry.subject}: {entry.runbook_id or '?'}, path {entry.path or '?'}{drill}",
            "",
            f"- Approved: {_time(entry.approved_at)}"
            + (f" (reason: {entry.reason})" if entry.reason else ""),
            f"- Expected: {expected_text(entry)}",
            f"- Actual: {actual_text(entry)}",
            f"- Endorsed: {endorsed_text(entry)}",
        ]
        for lesson in entry.lessons:
            lines.append(f"- Lesson: {lesson}")
        lines += [f"- Trail events: {', '.join(f'#{seq}' for seq in entry.sources)}", ""]
    return "\n".join(lines)


def entry_record(entry: JournalEntry) -> dict[str, Any]:
    expected, actual = entry.expected, entry.actual
    return {
        "subject": entry.subject,
        "runbook": entry.runbook_id,
        "path": entry.path,
        "drill": entry.drill,
        "reason": entry.reason,
        "approved_at": _iso(entry.approved_at),
        "expected": None
        if expected is None
        else {
            "metric": expected.metric,
            "direction": expected.direction,
            "inside": expected.inside,
            "window_seconds": expected.window_seconds,
            "expected_by": _iso(expected.expected_by),
            "track_record": expected.track_record,
        },
        "executed_at": _iso(entry.executed_at),
        "actual": None
        if actual is None
        else {
            "recovered": actual.recovered,
            "outcome": actual.outcome,
            "values": [[_iso(at), value] for at, value in actual.values],
            "values_seen": actual.values_seen,
            "minutes_to_recover": actual.minutes_to_recover,
            "validated_at": _iso(actual.validated_at),
        },
        "endorsed_by": entry.endorsed_by,
        "endorsed_role": entry.endorsed_role,
        "endorsed_at": _iso(entry.endorsed_at),
        "lessons": entry.lessons,
        "trail_events": entry.sources,
    }


def journal_json(entries: Sequence[JournalEntry]) -> str:
    return json.dumps([entry_record(entry) for entry in entries], ensure_ascii=False, indent=2)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")

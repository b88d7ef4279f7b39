"""The process-health report as a person reads it (Markdown), as tools read it (JSON), and a
figure's source events (``--explain``). Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.process_health import (
    ALL,
    COUNTS,
    DESCRIPTIONS,
    DURATIONS,
    FIGURES,
    VALUES,
    Figure,
    HealthReport,
)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _value_text(name: str, value: float | None) -> str:
    if name in DURATIONS:
        return duration_text(value)
    return "-" if value is None else f"{value:g}"


def _scope(runbooks: Sequence[str]) -> list[str]:
    return [*runbooks, ALL] if len(runbooks) > 1 else list(runbooks)


def report_markdown(report: HealthReport, *, since: datetime | None = None) -> str:
    window = f" since {since:%Y-%m-%d}" if since else ""
    lines = [f"# Process health{window}", ""]
    runbooks = report.runbooks()
    if not runbooks:
        return "\n".join([*lines, "No process events in the trail for this selection.", ""])
    for runbook in _scope(runbooks):
        title = "All runbooks" if runbook == ALL else f"Runbook {runbook}"
        lines += [
            f"## {title}",
            "",
            "| figure | count | median | p90 |",
            "| --- | --- | --- | --- |",
        ]
        for name in (*DURATIONS, *VALUES):
            figure = report.figure(runbook, name)
            lines.append(
                f"| {DESCRIPTIONS[name]} (`{name}`) | {figure.count} | "
                f"{_value_text(name, figure.median)} | {_value_text(name, figure.p90)} |"
            )
        counts = ", ".join(
            f"{DESCRIPTIONS[name]} {report.figure(runbook, name).count}" for name in COUNTS
        )
        share = report.recovered_share(runbook)
        lines += ["", f"Counts: {counts}."]
        lines.append(
            "Share of validated rollbacks that recovered: "
            + ("none validated" if share is None else f"{share:.0%}")
            + "."
        )
        paths = report.paths.get(runbook, {})
        if paths:
            lines.append(
                "Rollbacks executed per path: "
                + ", ".join(f"{path} {count}" for path, count in sorted(paths.items()))
                + "."
            )
        if not report.figure(runbook, "drills_started").count:
            lines.append("Drills: none in the trail.")
        lines.append("")
    lines.append("Each figure's source events: `releasebot report --explain FIGURE`.")
    return "\n".join(lines) + "\n"


def _figure_record(figure: Figure) -> dict[str, Any]:
    record: dict[str, Any] = {"count": figure.count}
    if figure.name not in COUNTS:
        record |= {"median": figure.median, "p90": figure.p90}
    return record


def report_record(report: HealthReport) -> dict[str, Any]:
    runbooks: dict[str, Any] = {}
    for runbook in _scope(report.runbooks()):
        runbooks[runbook] = {
            "figures": {name: _figure_record(report.figure(runbook, name)) for name in FIGURES},
            "recovered_share": report.recovered_share(runbook),
            "executed_per_path": dict(sorted(report.paths.get(runbook, {}).items())),
        }
    return {"units": {"durations": "seconds"}, "runbooks": runbooks}


def report_json(report: HealthReport) -> str:
    return json.dumps(report_record(report), ensure_ascii=False, indent=2)


def explain_lines(report: HealthReport, name: str, runbook: str | None = None) -> list[str]:
    """One line per observation of ``name``: runbook, subject, value, source events."""
    lines = [f"{name}: {DESCRIPTIONS[name]}"]
    found = report.sources(name, runbook)
    if not found:
        return [*lines, "no events for this figure in the selection"]
    for observation in found:
        events = " → ".join(f"#{seq}" for seq in observation.sources)
        value = "" if name in COUNTS else f" {_value_text(name, observation.value)}"
        lines.append(f"{observation.runbook}  {observation.subject}{value}  events {events}")
    return lines


def comparison_rows(
    current: HealthReport, previous: HealthReport, runbook: str = ALL
) -> list[tuple[str, str, str]]:
    """(figure, this period, the period before) as text, for the figures either period has:
    durations and scores as "median (p90), n=count", counts as the count."""
    rows = []
    for name in (*DURATIONS, *VALUES, *COUNTS):
        now, before = current.figure(runbook, name), previous.figure(runbook, name)
        if not now.count and not before.count:
            continue
        rows.append((DESCRIPTIONS[name], _brief(now), _brief(before)))
    return rows


def _brief(figure: Figure) -> str:
    if figure.name in COUNTS:
        return str(figure.count)
    if not figure.count:
        return "-"
    median = _value_text(figure.name, figure.median)
    p90 = _value_text(figure.name, figure.p90)
    return f"{median} (p90 {p90}), n={figure.count}"

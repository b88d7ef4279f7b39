"""Figures over time, drawn on the server as inline SVG (no JavaScript, no assets): one dot per
measured interval (or drill score) at the time it ended, linked to its subject's timeline,
and each period's median as a dashed segment, so a trend shows at a glance and every dot can
be followed back to the events it came from. Every text is escaped; the numbers are ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from markupsafe import Markup, escape

from bot.core.durations import format_duration
from bot.web.charts import num
from bot.web.html import subject_path, when

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28
DOT, MEDIAN = "#1264a3", "#4a154b"


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    subject: str
    runbook: str


@dataclass
class Series:
    """One figure's points over time; ``seconds``: a duration (else a plain value)."""

    name: str
    description: str
    seconds: bool = True
    points: list[Point] = field(default_factory=list)

    def shown(self, value: float) -> str:
        if self.seconds and abs(value) < 60:
            return f"{value:.2g} s" if abs(value) < 10 else f"{round(value)} s"
        if self.seconds:
            return format_duration(timedelta(seconds=round(value)))
        return num(value)


def time_chart(
    series: Series, *, start: datetime, end: datetime, periods: Sequence[datetime] = ()
) -> Markup:
    """``series`` between ``start`` and ``end``; ``periods``: the times that split the span
    into periods (a vertical line each), whose medians are drawn apart."""
    points = [p for p in series.points if math.isfinite(p.value) and start <= p.at <= end]
    high = max((p.value for p in points), default=1.0) * 1.1 or 1.0
    span = max((end - start).total_seconds(), 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + inner_w * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return TOP + inner_h * (1 - min(max(value, 0.0), high) / high)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(_describe(series, points))}</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" fill="#ffffff" '
        'stroke="#dddddd"/>',
    ]
    for share in (0.0, 0.5, 1.0):
        level = high / 1.1 * share
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + inner_w}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            'stroke="#eeeeee"/>'
            f'<text x="{LEFT - 4}" y="{y(level) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#616061">{escape(series.shown(level))}</text>'
        )
    edges = [start, *sorted(t for t in periods if start < t < end), end]
    for split in edges[1:-1]:
        parts.append(
            f'<line x1="{x(split):.1f}" x2="{x(split):.1f}" y1="{TOP}" y2="{TOP + inner_h}" '
            'stroke="#616061" stroke-dasharray="2 3"/>'
        )
    for begin, finish in zip(edges, edges[1:], strict=False):
        inside = [p.value for p in points if begin <= p.at < finish or p.at == finish == end]
        if inside:
            middle = float(median(inside))
            parts.append(
                f'<line x1="{x(begin):.1f}" x2="{x(finish):.1f}" y1="{y(middle):.1f}" '
                f'y2="{y(middle):.1f}" stroke="{MEDIAN}" stroke-width="2" stroke-dasharray="6 4">'
                f"<title>{escape(f'median {series.shown(middle)} of {len(inside)}')}</title>"
                "</line>"
            )
    for p in points:
        seen = f"{p.subject} ({p.runbook}): {series.shown(p.value)}, {when(p.at)}"
        parts.append(
            f'<a href="{escape(subject_path(p.subject))}"><circle cx="{x(p.at):.1f}" '
            f'cy="{y(p.value):.1f}" r="4" fill="{DOT}"><title>{escape(seen)}</title></circle></a>'
        )
    if not points:
        parts.append(
            f'<text x="{LEFT + inner_w / 2}" y="{TOP + inner_h / 2}" font-size="13" '
            'text-anchor="middle" fill="#616061">none in these periods</text>'
        )
    for at, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text x="{x(at):.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="{anchor}" '
            f'fill="#616061">{escape(at.strftime("%Y-%m-%d"))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built here, every text escaped


def _describe(series: Series, points: Sequence[Point]) -> str:
    if not points:
        return f"{series.description}: none"
    middle = float(median(p.value for p in points))
    return f"{series.description}: {len(points)}, median {series.shown(middle)}"

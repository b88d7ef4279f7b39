"""Small charts drawn on the server as inline SVG (no JavaScript, no assets, no library).

``criterion_chart``: a criterion's recent samples against its threshold and margin, with the
hysteresis band (between the clear and breach points) and the breach zone shaded, each sample
coloured by the side it fell on: what the bot saw. Every text is escaped; the numbers are ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

from bot.core.criteria import Sample
from bot.core.runbook import Criterion

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 112, 12, 12, 28
BEYOND, BAND, INSIDE = "#c01343", "#a05a00", "#007a5a"


def num(value: float) -> str:
    """A value as a person reads it: up to four significant digits, no exponent for usual ones."""
    return f"{value:.4g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.2e}"


def _side(criterion: Criterion, value: float) -> str:
    above = criterion.direction == "above"
    if (value > criterion.breach_point) if above else (value < criterion.breach_point):
        return BEYOND
    if (value < criterion.clear_point) if above else (value > criterion.clear_point):
        return INSIDE
    return BAND


def criterion_chart(criterion: Criterion, samples: Sequence[Sample], *, now: datetime) -> Markup:
    points = [s for s in samples if s.metric == criterion.metric and math.isfinite(s.value)]
    marks = [criterion.threshold, criterion.breach_point, criterion.clear_point]
    values = [s.value for s in points] + marks
    low, high = min(values), max(values)
    spread = (high - low) or abs(high) or 1.0
    low, high = low - spread * 0.1, high + spread * 0.1
    if math.isfinite(criterion.bounds[0]):
        low = max(low, criterion.bounds[0])
    if math.isfinite(criterion.bounds[1]):
        high = min(high, criterion.bounds[1])
    start = min((s.at for s in points), default=now)
    span = max((now - start).total_seconds(), 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + inner_w * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return TOP + inner_h * (high - min(max(value, low), high)) / (high - low)

    breach_edge = TOP if criterion.direction == "above" else TOP + inner_h
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(_describe(criterion, points))}</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" fill="#ffffff" '
        'stroke="#dddddd"/>',
        _band(y(criterion.breach_point), breach_edge, inner_w, "#fde8ec"),
        _band(y(criterion.breach_point), y(criterion.clear_point), inner_w, "#fff4e0"),
        f'<line x1="{LEFT}" x2="{LEFT + inner_w}" y1="{y(criterion.threshold):.1f}" '
        f'y2="{y(criterion.threshold):.1f}" stroke="#1d1c1d" stroke-dasharray="6 4"/>',
    ]
    for label, value, colour in (
        ("breach", criterion.breach_point, BEYOND),
        ("threshold", criterion.threshold, "#1d1c1d"),
        ("clear", criterion.clear_point, INSIDE),
    ):
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(value) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{colour}">{escape(label)} {escape(num(value))}</text>'
        )
    if len(points) > 1:
        line = " ".join(f"{x(s.at):.1f},{y(s.value):.1f}" for s in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1264a3" stroke-width="1.5"/>')
    for s in points:
        seen = f"{num(s.value)} at {s.at:%Y-%m-%d %H:%M:%S} UTC"
        parts.append(
            f'<circle cx="{x(s.at):.1f}" cy="{y(s.value):.1f}" r="3" '
            f'fill="{_side(criterion, s.value)}"><title>{escape(seen)}</title></circle>'
        )
    if points:
        parts.append(_axis_label(LEFT, start, "start"))
        parts.append(_axis_label(LEFT + inner_w, now, "end"))
    else:
        parts.append(
            f'<text x="{LEFT + inner_w / 2}" y="{TOP + inner_h / 2 - 8}" font-size="13" '
            'text-anchor="middle" fill="#616061">no samples received in this window</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _band(y1: float, y2: float, width: int, colour: str) -> str:
    top, height = min(y1, y2), abs(y2 - y1)
    return f'<rect x="{LEFT}" y="{top:.1f}" width="{width}" height="{height:.1f}" fill="{colour}"/>'


def _axis_label(at_x: float, at: datetime, anchor: str) -> str:
    return (
        f'<text x="{at_x:.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="{anchor}" '
        f'fill="#616061">{escape(at.strftime("%m-%d %H:%M"))} UTC</text>'
    )


def _describe(criterion: Criterion, points: Sequence[Sample]) -> str:
    latest = f"; latest {num(points[-1].value)}" if points else "; no samples"
    return (
        f"{criterion.metric}: {len(points)} samples against threshold {num(criterion.threshold)}"
        f" (breach beyond {num(criterion.breach_point)}, clears back past "
        f"{num(criterion.clear_point)}){latest}"
    )

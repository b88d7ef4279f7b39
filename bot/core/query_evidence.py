"""What a query-backed criterion's query said, and how that shows in its evaluation.

A query-backed criterion (``Criterion.query``) is asked every ``interval``; each answer is a
:class:`QueryReading`: a value with the raw text Prometheus sent, or the reason there is none
(an empty result, NaN, more than one series, an HTTP error, a timeout...). A value is stored
as a sample and judged like a pushed one; :func:`with_reading` then adds the query and its
raw value to the evaluation's explanation, and turns a *clear* into insufficient data when the
newest answer had no value: a query that stopped answering is never taken as healthy.

A relative criterion (``baseline_query`` and ``compare``) judges the canary's difference from
its baseline, in percent of the baseline or absolute; :func:`relative_value` computes it with
the arithmetic shown in messages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from bot.core.criteria import CriterionEvaluation
from bot.core.replay import CriterionState

Compare = Literal["percent", "absolute"]


@dataclass(frozen=True)
class QueryReading:
    """One answer to a criterion's query at ``at``: ``value`` (None when unusable), ``raw``
    (the text Prometheus sent; for a relative criterion both), or ``reason`` and ``detail``."""

    query: str
    at: datetime
    value: float | None
    raw: str | None = None
    reason: str | None = None
    detail: str | None = None
    arithmetic: str | None = None  # a relative criterion's comparison, as shown

    @property
    def usable(self) -> bool:
        return self.value is not None


def relative_value(compare: Compare, canary: float, baseline: float) -> tuple[float, str] | str:
    """The canary's difference from its baseline and the arithmetic, or why there is none.

    ``percent``: (canary - baseline) / |baseline| x 100, so +10 means 10 % above the
    baseline; ``absolute``: canary - baseline. A zero baseline has no percentage.
    """
    if compare == "absolute":
        difference = canary - baseline
        return difference, f"canary {canary:g} − baseline {baseline:g} = {difference:+g}"
    if baseline == 0:
        return f"the baseline is 0 (canary {canary:g}): a percentage of 0 is undefined"
    percent = (canary - baseline) / abs(baseline) * 100
    text = (
        f"(canary {canary:g} − baseline {baseline:g}) / {abs(baseline):g} × 100 = {percent:+.4g} %"
    )
    return percent, text


def describe(reading: QueryReading) -> str:
    """``query `Q` returned 0.041 at 10:01`` or why it gave nothing."""
    when = _time(reading.at)
    if reading.usable:
        how = f": {reading.arithmetic}" if reading.arithmetic else ""
        return f"query `{reading.query}` returned {reading.raw} at {when}{how}"
    return (
        f"query `{reading.query}` gave no usable value at {when}: "
        f"{reading.reason}: {reading.detail}"
    )


def with_reading(
    evaluation: CriterionEvaluation, reading: QueryReading | None
) -> CriterionEvaluation:
    """``evaluation`` with its query's newest answer shown; a failed newest answer makes a
    clear insufficient data (a breach stays until its own rule clears it)."""
    if reading is None:
        return evaluation
    note = describe(reading)
    newer_sample = evaluation.latest_at is not None and evaluation.latest_at > reading.at
    if reading.usable or newer_sample or evaluation.state is not CriterionState.CLEAR:
        return replace(evaluation, explanation=f"{evaluation.explanation}; {note}")
    text = (
        f"{evaluation.metric} insufficient data: {note}; the samples before it showed no "
        "breach, but missing data is never taken as healthy"
    )
    return replace(
        evaluation, state=CriterionState.INSUFFICIENT_DATA, severity=None, explanation=text
    )


def _time(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%H:%M" if at.second == 0 and at.microsecond == 0 else "%H:%M:%S")

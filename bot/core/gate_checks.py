"""Gates that check themselves: was a value held inside a bound for a duration?

A readiness gate may name a check (``Gate.check``): "error rate under 2 % for one hour". The
bot reads the values of the last ``for`` (a range query every ``step``, or the stored samples
of a criterion) and proposes **Pass** when every value was inside the bound and the values
cover the whole duration, **Fail** when any value was outside it, and nothing (insufficient
data, never a pass) when the values do not cover the duration. The gate's owner confirms or
overrides the proposal (an override needs a reason); both are in the trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.core.durations import format_duration
from bot.core.runbook import GateCheck, Runbook

Proposal = Literal["pass", "fail"]


@dataclass(frozen=True)
class Bound:
    """What a check holds: ``what`` (a metric or query) ``side`` (under/over) ``limit``."""

    what: str
    side: Literal["under", "over"]
    limit: float

    def holds(self, value: float) -> bool:
        return value < self.limit if self.side == "under" else value > self.limit

    def __str__(self) -> str:
        return f"{self.what} {self.side} {self.limit:g}"


@dataclass(frozen=True)
class CheckResult:
    """The bot's proposal (None: it cannot tell) and the evidence, as people read it."""

    proposal: Proposal | None
    evidence: str


def bound_of(runbook: Runbook, check: GateCheck) -> Bound:
    """A criterion check holds its criterion's threshold (an ``above`` criterion: under it);
    a query check holds its own ``below`` or ``above``."""
    if check.criterion is not None:
        criterion = runbook.criterion(check.criterion)
        if criterion is None:
            raise ValueError(f"no criterion for {check.criterion!r}")
        side: Literal["under", "over"] = "under" if criterion.direction == "above" else "over"
        return Bound(f"`{criterion.metric}`", side, criterion.threshold)
    assert check.query is not None
    if check.below is not None:
        return Bound(f"`{check.query}`", "under", check.below)
    assert check.above is not None
    return Bound(f"`{check.query}`", "over", check.above)


def judge_hold(
    bound: Bound,
    points: Sequence[tuple[datetime, float]],
    *,
    end: datetime,
    held_for: timedelta,
    step: timedelta,
) -> CheckResult:
    """Was every value of ``points`` inside ``bound`` from ``end - held_for`` to ``end``?

    A value outside it proposes Fail. Otherwise Pass needs values from the start to the end
    of the duration with no gap longer than two steps; anything less proposes nothing.
    """
    start = end - held_for
    inside = sorted((at, value) for at, value in points if start <= at <= end)
    rule = f"{bound} for {format_duration(held_for)}"
    if not inside:
        text = f"no values of {bound.what} since {_time(start)}: cannot tell {rule}"
        return CheckResult(None, text)
    outside = [(at, value) for at, value in inside if not bound.holds(value)]
    if outside:
        worst = max(outside, key=lambda p: p[1] if bound.side == "under" else -p[1])
        return CheckResult(
            "fail",
            f"{bound.what} was {worst[1]:g} at {_time(worst[0])} ({len(outside)} of "
            f"{len(inside)} values outside); needed {rule}",
        )
    times = [start, *(at for at, _ in inside), end]
    gap = max(later - earlier for earlier, later in zip(times, times[1:], strict=False))
    if gap > 2 * step:
        return CheckResult(
            None,
            f"{len(inside)} values of {bound.what}, all {bound.side} {bound.limit:g}, but with a "
            f"gap of {format_duration(gap)}: cannot tell {rule}",
        )
    peak = max(inside, key=lambda p: p[1] if bound.side == "under" else -p[1])
    return CheckResult(
        "pass",
        f"{bound.what} stayed {bound.side} {bound.limit:g} for {format_duration(held_for)}: "
        f"{len(inside)} values from {_time(inside[0][0])} to {_time(inside[-1][0])}, "
        f"{'highest' if bound.side == 'under' else 'lowest'} {peak[1]:g} at {_time(peak[0])}",
    )


def _time(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%H:%M" if at.second == 0 and at.microsecond == 0 else "%H:%M:%S")

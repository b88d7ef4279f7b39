"""Self-checking gates in the pure core: a value held inside a bound for a duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.gate_checks import Bound, bound_of, judge_hold
from bot.core.runbook import GateCheck

END = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)
UNDER = Bound("`errors`", "under", 0.02)


def every_minute(values: list[float]) -> list[tuple[datetime, float]]:
    start = END - (len(values) - 1) * MINUTE
    return [(start + i * MINUTE, v) for i, v in enumerate(values)]


def test_held_for_the_whole_hour_proposes_pass() -> None:
    result = judge_hold(UNDER, every_minute([0.01] * 61), end=END, held_for=HOUR, step=MINUTE)
    assert result.proposal == "pass"
    assert result.evidence == (
        "`errors` stayed under 0.02 for 1h: 61 values from 09:00 to 10:00, highest 0.01 at 09:00"
    )


def test_one_value_outside_proposes_fail_naming_the_worst() -> None:
    values = [0.01] * 61
    values[10], values[20] = 0.03, 0.05
    result = judge_hold(UNDER, every_minute(values), end=END, held_for=HOUR, step=MINUTE)
    assert result.proposal == "fail"
    assert result.evidence.startswith("`errors` was 0.05 at 09:20 (2 of 61 values outside)")


def test_a_short_history_or_a_gap_proposes_nothing() -> None:
    half = judge_hold(UNDER, every_minute([0.01] * 30), end=END, held_for=HOUR, step=MINUTE)
    assert half.proposal is None and "gap of 31m" in half.evidence
    gappy = every_minute([0.01] * 61)
    del gappy[20:25]
    result = judge_hold(UNDER, gappy, end=END, held_for=HOUR, step=MINUTE)
    assert result.proposal is None and "gap of 6m" in result.evidence
    nothing = judge_hold(UNDER, [], end=END, held_for=HOUR, step=MINUTE)
    assert nothing.proposal is None and nothing.evidence.startswith("no values of `errors`")


@given(
    values=st.lists(st.floats(min_value=0, max_value=0.1), min_size=61, max_size=61),
    limit=st.floats(min_value=0.001, max_value=0.1),
)
def test_pass_only_when_every_value_is_inside(values: list[float], limit: float) -> None:
    bound = Bound("x", "under", limit)
    result = judge_hold(bound, every_minute(values), end=END, held_for=HOUR, step=MINUTE)
    inside = all(v < limit for v in values)
    assert result.proposal == ("pass" if inside else "fail")


def test_a_criterion_check_holds_the_criterion_threshold() -> None:
    from bot.core.runbook import Runbook
    from tests.core.test_query_evidence import criterion

    runbook = Runbook.model_construct(criteria=[criterion()])  # only criteria are read
    check = GateCheck.model_validate({"criterion": "error_rate", "for": "1h"})
    assert bound_of(runbook, check) == Bound("`error_rate`", "under", 0.02)
    below = GateCheck.model_validate({"query": "ctr", "above": 0.3, "for": "2h"})
    assert bound_of(runbook, below) == Bound("`ctr`", "over", 0.3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"for": "1h"}, "exactly one of 'criterion' or 'query'"),
        ({"query": "x", "for": "1h"}, "exactly one of 'below' or 'above'"),
        ({"criterion": "x", "below": 1, "for": "1h"}, "uses the criterion's threshold"),
        ({"query": "x", "below": 1}, "Field required"),
    ],
)
def test_a_check_is_one_source_and_one_bound(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GateCheck.model_validate(fields)

"""Query-backed and relative criteria in the pure core: the relative arithmetic, how a
query's answer shows in an evaluation, and the runbook checks of query fields."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.criteria import Sample, evaluate_criterion
from bot.core.policy import promql_problem
from bot.core.query_evidence import QueryReading, relative_value, with_reading
from bot.core.replay import CriterionState
from bot.core.runbook import Criterion

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def criterion(**fields: object) -> Criterion:
    base = {
        "metric": "error_rate", "above": 0.02, "margin": 0.005, "sustain": 3,
        "stale_after": "5m", "severity": "high", "query": "errors", "interval": "1m",
    }  # fmt: skip
    return Criterion.model_validate({**base, **fields})


def samples(*values: float) -> list[Sample]:
    return [Sample("error_rate", v, T0 + timedelta(minutes=i)) for i, v in enumerate(values)]


@given(canary=finite, baseline=finite)
def test_percent_is_the_difference_over_the_baseline(canary: float, baseline: float) -> None:
    result = relative_value("percent", canary, baseline)
    if baseline == 0:
        assert isinstance(result, str) and "undefined" in result
        return
    assert not isinstance(result, str)
    value, arithmetic = result
    assert math.isclose(value, (canary - baseline) / abs(baseline) * 100, rel_tol=1e-9)
    assert (value > 0) == (canary > baseline)  # above the baseline is positive, whatever sign
    assert f"canary {canary:g}" in arithmetic and f"baseline {baseline:g}" in arithmetic


@given(canary=finite, baseline=finite)
def test_absolute_is_the_plain_difference(canary: float, baseline: float) -> None:
    result = relative_value("absolute", canary, baseline)
    assert not isinstance(result, str)
    assert result[0] == canary - baseline


def test_the_arithmetic_is_shown() -> None:
    assert relative_value("percent", 0.031, 0.025) == (
        pytest.approx(24.0),
        "(canary 0.031 − baseline 0.025) / 0.025 × 100 = +24 %",
    )
    assert relative_value("absolute", 0.031, 0.025)[1] == "canary 0.031 − baseline 0.025 = +0.006"


def test_a_reading_adds_the_query_and_raw_value() -> None:
    rule = criterion()
    judged = evaluate_criterion(rule, samples(0.03, 0.04, 0.05), T0 + timedelta(minutes=2))
    reading = QueryReading("errors", T0 + timedelta(minutes=2), 0.05, "0.05")
    shown = with_reading(judged, reading)
    assert shown.state is CriterionState.BREACH
    assert shown.explanation.endswith("; query `errors` returned 0.05 at 09:02")


def test_a_failed_newest_reading_makes_a_clear_insufficient() -> None:
    rule = criterion()
    now = T0 + timedelta(minutes=3)
    judged = evaluate_criterion(rule, samples(0.01, 0.01, 0.01), now)
    assert judged.state is CriterionState.CLEAR
    failed = QueryReading("errors", now, None, reason="timeout", detail="no answer within 10 s")
    shown = with_reading(judged, failed)
    assert shown.state is CriterionState.INSUFFICIENT_DATA and shown.severity is None
    assert "gave no usable value at 09:03: timeout: no answer within 10 s" in shown.explanation
    assert "never taken as healthy" in shown.explanation


def test_a_failed_reading_keeps_a_breach_until_its_rule_clears_it() -> None:
    rule = criterion()
    now = T0 + timedelta(minutes=3)
    judged = evaluate_criterion(rule, samples(0.03, 0.04, 0.05), now)
    failed = QueryReading("errors", now, None, reason="empty_result", detail="no series")
    shown = with_reading(judged, failed)
    assert shown.state is CriterionState.BREACH
    assert shown.explanation.endswith("empty_result: no series")


def test_a_failed_reading_older_than_the_newest_sample_changes_nothing_but_the_text() -> None:
    rule = criterion()
    judged = evaluate_criterion(rule, samples(0.01, 0.01, 0.01), T0 + timedelta(minutes=2))
    old = QueryReading("errors", T0 + timedelta(seconds=30), None, reason="timeout", detail="x")
    assert with_reading(judged, old).state is CriterionState.CLEAR


def test_relative_fields_go_together_and_open_the_bounds() -> None:
    rule = criterion(baseline_query="baseline", compare="percent", above=10, margin=2)
    assert rule.bounds == (-math.inf, math.inf)
    with pytest.raises(ValidationError, match="both 'baseline_query' and 'compare'"):
        criterion(baseline_query="baseline")
    with pytest.raises(ValidationError, match="compares 'query' with 'baseline_query'"):
        criterion(query=None, baseline_query="baseline", compare="absolute")
    with pytest.raises(ValidationError, match="a duration must be positive"):
        criterion(interval="0s")


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ('sum(rate(errors{job="api"}[5m])) / sum(rate(requests[5m]))', None),
        ('errors{job="a}b"}', None),
        ("errors{job='it\\'s'}", None),
        ('errors{job="api"', "missing '}' in the query"),
        ("sum(rate(errors[5m])", "missing ')' in the query"),
        ("errors[5m]]", "unbalanced ']' in the query"),
        ('errors{job="api}', 'unclosed string (") in the query'),
    ],
)
def test_promql_brackets_and_strings_are_checked(query: str, problem: str | None) -> None:
    assert promql_problem(query) == problem

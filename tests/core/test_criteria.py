"""Breach detection: margins, sustain, hysteresis and missing data, by example and by property."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.core.criteria import (
    CriterionState,
    Sample,
    evaluate_all,
    evaluate_criterion,
    overall_severity,
)
from bot.core.runbook import Criterion, Runbook

BREACH, CLEAR, INSUFFICIENT = (
    CriterionState.BREACH,
    CriterionState.CLEAR,
    CriterionState.INSUFFICIENT_DATA,
)
T0 = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def error_rate(**changes: object) -> Criterion:
    """The ranking model's error-rate rule: breach above 0.025, clear below 0.015, 3 samples."""
    fields: dict[str, object] = {
        "metric": "error_rate",
        "above": 0.02,
        "margin": 0.005,
        "sustain": 3,
        "stale_after": "10m",
        "severity": "high",
    }
    return Criterion.model_validate({**fields, **changes})


def ctr(**changes: object) -> Criterion:
    """A `below` rule: breach below 0.30, clear above 0.32, sustained for 5 minutes."""
    fields: dict[str, object] = {
        "metric": "ctr",
        "below": 0.31,
        "margin": 0.01,
        "sustain": "5m",
        "stale_after": "3m",
        "severity": "medium",
    }
    return Criterion.model_validate({**fields, **changes})


def series(
    metric: str,
    values: Sequence[float],
    every: timedelta = timedelta(minutes=1),
    start: datetime = T0,
) -> list[Sample]:
    return [Sample(metric, value, start + i * every) for i, value in enumerate(values)]


def state_after(
    criterion: Criterion,
    values: Sequence[float],
    *,
    prior: CriterionState | None = None,
    every: timedelta = timedelta(minutes=1),
) -> CriterionState:
    samples = series(criterion.metric, values, every)
    return evaluate_criterion(criterion, samples, samples[-1].at, prior_state=prior).state


# --- examples: breach --------------------------------------------------------------------------


def test_three_samples_above_threshold_plus_margin_declare_a_breach_and_say_why() -> None:
    samples = series("error_rate", [0.012, 0.031, 0.036, 0.041])
    evaluation = evaluate_criterion(error_rate(), samples, samples[-1].at)
    assert evaluation.state is BREACH
    assert evaluation.severity == "high"
    assert evaluation.samples == tuple(samples[1:])
    assert evaluation.latest_value == 0.041 and evaluation.latest_at == samples[-1].at
    assert evaluation.breach_point == pytest.approx(0.025)
    assert evaluation.clear_point == pytest.approx(0.015)
    assert evaluation.changed_at == samples[-1].at
    assert evaluation.explanation == (
        "error_rate breach: the last 3 samples (0.031 at 10:01, 0.036 at 10:02, 0.041 at 10:03)"
        " are above 0.025 (threshold 0.02 + margin 0.005), sustained 3 samples;"
        " clears only after 3 consecutive samples below 0.015"
    )


def test_two_samples_beyond_are_not_yet_a_breach() -> None:
    evaluation = evaluate_criterion(
        error_rate(), series("error_rate", [0.01, 0.03, 0.04]), T0 + timedelta(minutes=2)
    )
    assert evaluation.state is CLEAR and evaluation.severity is None
    assert "the last 2 samples are above 0.025 so far" in evaluation.explanation


def test_a_value_inside_the_margin_interrupts_the_run() -> None:
    assert state_after(error_rate(), [0.03, 0.03, 0.022, 0.03, 0.03]) is CLEAR


def test_above_the_threshold_but_not_the_margin_is_never_a_breach() -> None:
    assert state_after(error_rate(), [0.024] * 20) is CLEAR


def test_exactly_on_the_breach_or_clear_point_is_in_the_band() -> None:
    criterion = error_rate(sustain=2)
    assert state_after(criterion, [criterion.breach_point] * 5) is CLEAR
    assert state_after(criterion, [criterion.clear_point] * 5, prior=BREACH) is BREACH


def test_below_direction_breaches_under_threshold_minus_margin() -> None:
    criterion = ctr(sustain=3)
    assert state_after(criterion, [0.29, 0.29, 0.29]) is BREACH
    assert state_after(criterion, [0.305, 0.305, 0.305]) is CLEAR  # in the band
    evaluation = evaluate_criterion(criterion, series("ctr", [0.29] * 3), T0 + timedelta(minutes=2))
    assert "below 0.3 (threshold 0.31 - margin 0.01)" in evaluation.explanation
    assert "clears only after 3 consecutive samples above 0.32" in evaluation.explanation


def test_duration_sustain_needs_samples_spanning_the_duration() -> None:
    criterion = ctr()  # 5 minutes
    assert state_after(criterion, [0.2] * 5) is not BREACH  # 10:00 to 10:04: 4 minutes
    assert state_after(criterion, [0.2] * 6) is BREACH  # 10:00 to 10:05
    evaluation = evaluate_criterion(criterion, series("ctr", [0.2] * 8), T0 + timedelta(minutes=7))
    assert [s.at.minute for s in evaluation.samples] == [2, 3, 4, 5, 6, 7]
    assert "sustained 5m" in evaluation.explanation


def test_a_gap_longer_than_stale_after_restarts_a_duration_run() -> None:
    criterion = ctr()  # 5 minutes, stale_after 3 minutes
    samples = [Sample("ctr", 0.2, T0 + timedelta(minutes=m)) for m in (0, 1, 2, 6, 7, 8)]
    assert evaluate_criterion(criterion, samples, samples[-1].at).state is not BREACH
    gap_ok = [Sample("ctr", 0.2, T0 + timedelta(minutes=m)) for m in (0, 3, 5)]
    assert evaluate_criterion(criterion, gap_ok, gap_ok[-1].at).state is BREACH


def test_a_gap_longer_than_stale_after_restarts_a_count_run() -> None:
    samples = [Sample("error_rate", 0.04, T0 + timedelta(minutes=m)) for m in (0, 1, 12)]
    assert evaluate_criterion(error_rate(), samples, samples[-1].at).state is not BREACH


def test_sustain_of_one_sample_breaches_at_once() -> None:
    assert state_after(error_rate(sustain=1), [0.03]) is BREACH


# --- examples: hysteresis and clearing ---------------------------------------------------------


def test_a_breach_holds_while_values_stay_in_the_band() -> None:
    values = [0.03, 0.03, 0.03] + [0.02, 0.016, 0.024, 0.015] * 5
    samples = series("error_rate", values)
    evaluation = evaluate_criterion(error_rate(), samples, samples[-1].at)
    assert evaluation.state is BREACH
    assert "declared at 10:02" in evaluation.explanation
    assert "not cleared" in evaluation.explanation


def test_a_breach_clears_only_after_sustained_samples_inside_the_clear_point() -> None:
    breach = [0.03, 0.03, 0.03]
    assert state_after(error_rate(), breach + [0.01, 0.01]) is BREACH
    assert state_after(error_rate(), breach + [0.01, 0.01, 0.02, 0.01]) is BREACH
    samples = series("error_rate", breach + [0.01, 0.012, 0.011])
    evaluation = evaluate_criterion(error_rate(), samples, samples[-1].at)
    assert evaluation.state is CLEAR and evaluation.changed_at == samples[-1].at
    assert evaluation.explanation.startswith("error_rate clear: the breach cleared at 10:05")


def test_prior_breach_is_kept_until_cleared() -> None:
    assert state_after(error_rate(), [0.02, 0.01, 0.01], prior=BREACH) is BREACH
    assert state_after(error_rate(), [0.01, 0.01, 0.01], prior=BREACH) is CLEAR


def test_prior_insufficient_data_replays_from_clear() -> None:
    assert state_after(error_rate(), [0.02, 0.02, 0.02], prior=INSUFFICIENT) is CLEAR


# --- examples: missing data --------------------------------------------------------------------


def test_no_samples_is_insufficient_data_never_clear() -> None:
    evaluation = evaluate_criterion(error_rate(), [], T0)
    assert evaluation.state is INSUFFICIENT and evaluation.latest_value is None
    assert evaluation.explanation == (
        "error_rate insufficient data: no samples at or before 10:00;"
        " missing data is never taken as healthy"
    )


def test_samples_of_other_metrics_do_not_count() -> None:
    samples = series("p99_latency_ms", [0.01] * 5)
    assert evaluate_criterion(error_rate(), samples, T0).state is INSUFFICIENT


def test_stale_data_is_insufficient_and_says_how_old() -> None:
    samples = series("error_rate", [0.01, 0.01, 0.01])
    evaluation = evaluate_criterion(error_rate(), samples, samples[-1].at + timedelta(minutes=15))
    assert evaluation.state is INSUFFICIENT
    assert "the newest sample (0.01 at 10:02) is 15m old, older than stale_after 10m" in (
        evaluation.explanation
    )
    exactly = evaluate_criterion(error_rate(), samples, samples[-1].at + timedelta(minutes=10))
    assert exactly.state is CLEAR


def test_stale_breach_is_insufficient_but_the_machine_still_holds_the_breach() -> None:
    samples = series("error_rate", [0.03, 0.03, 0.03])
    evaluation = evaluate_criterion(error_rate(), samples, T0 + timedelta(hours=1))
    assert evaluation.state is INSUFFICIENT and evaluation.severity is None
    assert evaluation.machine_state is BREACH
    assert "last decided state: breach" in evaluation.explanation


def test_one_good_sample_is_not_proof_of_health() -> None:
    evaluation = evaluate_criterion(error_rate(), series("error_rate", [0.001]), T0)
    assert evaluation.state is INSUFFICIENT
    assert "only 1 sample (0.001 at 10:00); judging needs 3 consecutive samples" in (
        evaluation.explanation
    )
    duration = evaluate_criterion(ctr(), series("ctr", [0.4, 0.4, 0.4]), T0 + timedelta(minutes=2))
    assert duration.state is INSUFFICIENT
    assert "judging needs samples spanning 5m with no gap over 3m" in duration.explanation


def test_future_samples_are_ignored() -> None:
    samples = series("error_rate", [0.01, 0.01, 0.01, 0.05, 0.05, 0.05])
    evaluation = evaluate_criterion(error_rate(), samples, T0 + timedelta(minutes=2))
    assert evaluation.state is CLEAR and evaluation.latest_value == 0.01


def test_nan_counts_as_missing_data() -> None:
    nan = math.nan
    assert state_after(error_rate(), [0.01, 0.01, nan]) is INSUFFICIENT
    assert state_after(error_rate(), [0.03, nan, 0.03, 0.03]) is BREACH
    samples = series("error_rate", [0.01, 0.01, 0.01, nan, nan])
    late = evaluate_criterion(error_rate(), samples, samples[-1].at + timedelta(minutes=9))
    assert late.state is INSUFFICIENT and "2 samples with NaN ignored" in late.explanation


def test_unsorted_input_and_duplicate_deliveries() -> None:
    samples = series("error_rate", [0.03, 0.03, 0.01, 0.03])
    assert evaluate_criterion(error_rate(), samples[::-1], samples[-1].at).state is CLEAR
    twice = [samples[-1], samples[-1], samples[-1]]
    assert evaluate_criterion(error_rate(), twice, samples[-1].at).state is INSUFFICIENT


def test_samples_need_a_time_zone_and_are_kept_in_utc() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Sample("error_rate", 0.1, datetime(2025, 3, 5, 10, 0))
    plus_one = timezone(timedelta(hours=1))
    berlin = Sample("error_rate", 0.1, datetime(2025, 3, 5, 11, 0, tzinfo=plus_one))
    assert berlin.at == T0 and berlin.at.tzinfo is UTC


# --- examples: a whole runbook ----------------------------------------------------------------


def ranking_model() -> Runbook:
    data = YAML(typ="safe").load((RUNBOOKS / "ranking-model.yaml").read_text())
    return Runbook.model_validate(data)


def test_evaluate_all_follows_the_runbook_order_and_picks_the_highest_severity() -> None:
    runbook = ranking_model()
    drill = runbook.drills[0].scenario  # error_rate 0.012, 0.031, 0.036, 0.041, 0.044
    samples = series(drill.metric, drill.values, drill.interval)
    samples += series("p99_latency_ms", [400] * 6)
    evaluations = evaluate_all(runbook, samples, samples[4].at)
    assert [e.metric for e in evaluations] == ["error_rate", "p99_latency_ms", "ctr"]
    assert [e.state for e in evaluations] == [BREACH, INSUFFICIENT, INSUFFICIENT]
    assert overall_severity(evaluations) == "high"
    later = evaluate_all(runbook, samples, samples[-1].at, prior_states={"error_rate": BREACH})
    assert [e.state for e in later] == [BREACH, BREACH, INSUFFICIENT]
    assert overall_severity(later) == "high"
    assert overall_severity(later[1:]) == "medium"
    assert overall_severity([]) is None



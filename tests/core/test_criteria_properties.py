"""Breach detection as properties: noise inside the margin, arrival order, gaps, stale data,
sustain, shifted times and mirrored directions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.criteria import CriterionState, Sample, evaluate_criterion
from bot.core.runbook import Criterion

BREACH, CLEAR, INSUFFICIENT = (
    CriterionState.BREACH,
    CriterionState.CLEAR,
    CriterionState.INSUFFICIENT_DATA,
)
T0 = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
FAST = settings(max_examples=150, deadline=None)


@st.composite
def criteria(draw: st.DrawFn) -> Criterion:
    direction = draw(st.sampled_from(["above", "below"]))
    sustain: int | str = draw(st.one_of(st.integers(1, 5), st.sampled_from(["2m", "5m", "90s"])))
    return Criterion.model_validate(
        {
            "metric": "m",
            direction: draw(st.floats(-1000, 1000)),
            "margin": draw(st.floats(0.001, 100)),
            "sustain": sustain,
            "stale_after": draw(st.sampled_from(["1m", "3m", "10m"])),
            "severity": "high",
        }
    )


def value_at(criterion: Criterion, k: float) -> float:
    """``k`` margins from the threshold, towards a breach when k > 0."""
    sign = 1 if criterion.direction == "above" else -1
    return criterion.threshold + sign * k * criterion.margin


@st.composite
def timed(
    draw: st.DrawFn, ks: st.SearchStrategy[float], max_size: int = 12
) -> list[tuple[int, float]]:
    """Seconds before NOW (mostly fresh, gaps of 0 to 4 minutes), with values given in
    margins from the threshold."""
    newest = draw(st.integers(0, 120))
    gaps = draw(st.lists(st.integers(0, 240), max_size=max_size))  # 0: simultaneous
    return [(newest + sum(gaps[:i]), draw(ks)) for i in range(len(gaps))]


NOW = T0 + timedelta(hours=1)


def make(criterion: Criterion, points: list[tuple[int, float]]) -> list[Sample]:
    return [Sample("m", value_at(criterion, k), NOW - timedelta(seconds=s)) for s, k in points]


anything = st.floats(-3, 3)
band = st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1, 1))  # the edges are band


@FAST
@given(criteria(), timed(band))
def test_noise_within_the_margin_never_declares_a_breach(
    criterion: Criterion, points: list[tuple[int, float]]
) -> None:
    assert evaluate_criterion(criterion, make(criterion, points), NOW).state is not BREACH


@FAST
@given(criteria(), timed(band))
def test_noise_within_the_margin_never_clears_a_breach(
    criterion: Criterion, points: list[tuple[int, float]]
) -> None:
    evaluation = evaluate_criterion(criterion, make(criterion, points), NOW, prior_state=BREACH)
    assert evaluation.state is not CLEAR
    assert evaluation.machine_state is BREACH


@FAST
@given(
    criteria(),
    timed(anything),
    st.randoms(use_true_random=False),
    st.sampled_from([None, BREACH, CLEAR]),
)
def test_the_order_samples_arrive_in_does_not_matter(
    criterion: Criterion,
    points: list[tuple[int, float]],
    rng: random.Random,
    prior: CriterionState | None,
) -> None:
    samples = make(criterion, points)
    shuffled = list(samples)
    rng.shuffle(shuffled)
    a = evaluate_criterion(criterion, samples, NOW, prior_state=prior)
    b = evaluate_criterion(criterion, shuffled, NOW, prior_state=prior)
    assert a == b


@FAST
@given(criteria(), timed(anything), timed(anything, max_size=4))
def test_old_data_from_before_a_gap_never_turns_insufficient_data_into_clear(
    criterion: Criterion, points: list[tuple[int, float]], old: list[tuple[int, float]]
) -> None:
    samples = make(criterion, points)
    if evaluate_criterion(criterion, samples, NOW).state is not INSUFFICIENT:
        return
    # Move the extra samples to before the given ones, separated by more than stale_after.
    oldest = min((s.at for s in samples), default=NOW)
    shift = oldest - criterion.stale_after - timedelta(seconds=1) - NOW
    extra = [Sample(s.metric, s.value, s.at + shift) for s in make(criterion, old)]
    assert evaluate_criterion(criterion, samples + extra, NOW).state is not CLEAR


@FAST
@given(criteria(), timed(anything), st.sampled_from([None, BREACH, CLEAR]))
def test_stale_samples_alone_are_never_clear(
    criterion: Criterion, points: list[tuple[int, float]], prior: CriterionState | None
) -> None:
    samples = make(criterion, points)
    later = NOW + criterion.stale_after + timedelta(seconds=1)
    assert evaluate_criterion(criterion, samples, later, prior_state=prior).state is INSUFFICIENT


@FAST
@given(criteria(), timed(anything))
def test_a_breach_needs_sustain_worth_of_beyond_samples(
    criterion: Criterion, points: list[tuple[int, float]]
) -> None:
    samples = make(criterion, points)
    evaluation = evaluate_criterion(criterion, samples, NOW)
    if evaluation.state is not BREACH:
        return
    beyond = [
        s
        for s in samples
        if (s.value - criterion.breach_point) * (1 if criterion.direction == "above" else -1) > 0
    ]
    deciding = evaluation.samples
    assert set(deciding) <= set(beyond)
    if isinstance(criterion.sustain, int):
        assert len(deciding) >= criterion.sustain
    else:
        assert len(deciding) >= 2
        assert deciding[-1].at - deciding[0].at >= criterion.sustain


@FAST
@given(criteria(), timed(anything), st.integers(-(10**8), 10**8), st.sampled_from([None, BREACH]))
def test_shifting_every_time_by_the_same_amount_changes_nothing(
    criterion: Criterion,
    points: list[tuple[int, float]],
    seconds: int,
    prior: CriterionState | None,
) -> None:
    shift = timedelta(seconds=seconds)
    samples = make(criterion, points)
    moved = [Sample(s.metric, s.value, s.at + shift) for s in samples]
    a = evaluate_criterion(criterion, samples, NOW, prior_state=prior)
    b = evaluate_criterion(criterion, moved, NOW + shift, prior_state=prior)
    assert (a.state, a.machine_state, a.severity) == (b.state, b.machine_state, b.severity)
    assert [s.at + shift for s in a.samples] == [s.at for s in b.samples]


@FAST
@given(criteria(), timed(anything), st.sampled_from([None, BREACH, CLEAR]))
def test_above_and_below_are_mirror_images(
    criterion: Criterion, points: list[tuple[int, float]], prior: CriterionState | None
) -> None:
    flipped = "below" if criterion.direction == "above" else "above"
    mirror = Criterion.model_validate(
        {**criterion.model_dump(exclude={"above", "below"}), flipped: -criterion.threshold}
    )
    # Simultaneous samples with different values are ordered by value, which mirroring
    # reverses; keep one sample per instant so the property is about the rule itself.
    points = list({offset: (offset, value) for offset, value in points}.values())
    samples = make(criterion, points)
    mirrored = [Sample(s.metric, -s.value, s.at) for s in samples]
    a = evaluate_criterion(criterion, samples, NOW, prior_state=prior)
    b = evaluate_criterion(mirror, mirrored, NOW, prior_state=prior)
    assert (a.state, a.machine_state) == (b.state, b.machine_state)

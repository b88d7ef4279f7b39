"""Incremental evaluation: the stored replay, advanced batch by batch as samples arrive (in any
order, redelivered, confirmed again), is always the full replay of the samples stored so far.

``MemoryHistory`` keeps a stream's samples, checkpoints and head in memory, and applies
``advance``'s progress the way ``bot.store.criterion_states`` applies it to the database.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.criteria import evaluate_criterion, judge, ordered_samples
from bot.core.replay import (
    CriterionState,
    OrderKey,
    ReplayState,
    Sample,
    carry_over,
    initial_state,
    replay,
    state_from_json,
    state_to_json,
)
from bot.core.resume import Checkpoint, Head, advance, state_at
from bot.core.runbook import Criterion
from tests.core.test_criteria import error_rate
from tests.core.test_criteria_properties import NOW, T0, anything, criteria, make, timed

BREACH, CLEAR = CriterionState.BREACH, CriterionState.CLEAR
PROPERTIES = settings(max_examples=200, deadline=None)


class MemoryHistory:
    """One stream in memory: what the store keeps, applied as the store applies it."""

    def __init__(self, criterion: Criterion, every: int) -> None:
        self.criterion = criterion
        self.every = every
        self.samples: dict[OrderKey, Sample] = {}
        self.checkpoints: dict[OrderKey, ReplayState] = {}
        self.head: Head | None = None
        self.replayed = 0

    def checkpoint_before(self, key: OrderKey) -> Checkpoint | None:
        before = [k for k in self.checkpoints if k < key]
        return Checkpoint(max(before), self.checkpoints[max(before)]) if before else None

    def samples_after(
        self, key: OrderKey | None, until: OrderKey | None = None
    ) -> Iterator[Sample]:
        for k in sorted(self.samples):
            if (key is None or k > key) and (until is None or k <= until):
                yield self.samples[k]

    def receive(self, batch: list[Sample]) -> None:
        """Store what is new (a repeat of a key is not), then advance the head."""
        new = [s for s in batch if s.key not in self.samples]
        new = list({s.key: s for s in new}.values())
        for sample in new:
            self.samples[sample.key] = sample
        self.apply(new)

    def confirm(self, key: OrderKey, until: timedelta) -> None:
        """The sample at ``key`` is seen again later (an alert re-sent unchanged)."""
        old = self.samples[key]
        seen = Sample(old.metric, old.value, old.at, old.since, old.end + until)
        self.samples[key] = seen
        self.apply([seen])

    def apply(self, changed: list[Sample]) -> None:
        progress = advance(self.criterion, self.head, changed, self, every=self.every)
        if progress.drop_checkpoints:
            after = progress.drop_after
            self.checkpoints = {k: v for k, v in self.checkpoints.items() if after and k <= after}
        for checkpoint in progress.checkpoints:
            self.checkpoints[checkpoint.key] = checkpoint.state
        for sample in progress.ignored:
            self.samples.pop(sample.key, None)
        self.head = progress.head
        self.replayed += progress.replayed

    def full_replay(self) -> ReplayState:
        return replay(self.criterion, ordered_samples(self.samples.values()), initial_state())


def arrivals(samples: list[Sample], rng: random.Random) -> list[list[Sample]]:
    """``samples`` in a random order, in batches of 1 to 4, with some delivered twice."""
    shuffled = samples + rng.sample(samples, k=min(len(samples), rng.randint(0, 3)))
    rng.shuffle(shuffled)
    batches = []
    while shuffled:
        size = rng.randint(1, 4)
        batches.append(shuffled[:size])
        shuffled = shuffled[size:]
    return batches


@PROPERTIES
@given(
    criteria(),
    timed(anything, max_size=30),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
def test_batches_in_any_order_give_the_full_replays_state_after_every_batch(
    criterion: Criterion, points: list[tuple[int, float]], rng: random.Random, every: int
) -> None:
    history = MemoryHistory(criterion, every)
    for batch in arrivals(make(criterion, points), rng):
        history.receive(batch)
        assert history.head is not None
        assert history.head.state == history.full_replay()
    if history.head is not None:
        head = history.head
        assert judge(criterion, head.state, NOW) == evaluate_criterion(
            criterion, list(history.samples.values()), NOW
        )


@PROPERTIES
@given(criteria(), timed(anything, max_size=20), st.integers(1, 4))
def test_samples_in_order_cost_one_step_each(
    criterion: Criterion, points: list[tuple[int, float]], every: int
) -> None:
    history = MemoryHistory(criterion, every)
    samples = ordered_samples(make(criterion, points))
    for sample in samples:
        history.receive([sample])
    assert history.replayed == len(samples)
    assert len(history.checkpoints) == len(samples) // every


@PROPERTIES
@given(
    criteria(),
    timed(anything, max_size=20),
    st.randoms(use_true_random=False),
    st.lists(st.integers(1, 600), min_size=1, max_size=4),
)
def test_a_sample_confirmed_again_later_is_replayed_from_its_place(
    criterion: Criterion,
    points: list[tuple[int, float]],
    rng: random.Random,
    confirmations: list[int],
) -> None:
    history = MemoryHistory(criterion, every=3)
    history.receive(make(criterion, points))
    if not history.samples:
        return
    for seconds in confirmations:
        history.confirm(rng.choice(sorted(history.samples)), timedelta(seconds=seconds))
        assert history.head is not None and history.head.state == history.full_replay()


@PROPERTIES
@given(
    criteria(),
    timed(anything, max_size=20),
    st.integers(1, 4),
    st.integers(0, 4000),
)
def test_the_state_at_an_earlier_now_leaves_out_the_later_samples(
    criterion: Criterion, points: list[tuple[int, float]], every: int, seconds_back: int
) -> None:
    history = MemoryHistory(criterion, every)
    history.receive(make(criterion, points))
    earlier = NOW - timedelta(seconds=seconds_back)
    kept = [s for s in history.samples.values() if s.at <= earlier]
    expected = replay(criterion, ordered_samples(kept), initial_state())
    assert state_at(criterion, history.head, earlier, history) == expected


@PROPERTIES
@given(criteria(), timed(anything, max_size=20))
def test_a_state_survives_its_json(criterion: Criterion, points: list[tuple[int, float]]) -> None:
    state = replay(criterion, ordered_samples(make(criterion, points)), initial_state())
    assert state_from_json(criterion.metric, state_to_json(state)) == state


def test_a_sample_with_a_since_and_a_confirmation_survives_json_too() -> None:
    sample = Sample("m", 0.04, T0, since=T0 - timedelta(minutes=5), seen_until=T0 + timedelta(1))
    state = replay(error_rate(metric="m"), [sample], initial_state())
    assert state_from_json("m", state_to_json(state)) == state


def test_a_changed_rule_keeps_the_decided_breach_and_judges_new_samples_by_itself() -> None:
    history = MemoryHistory(error_rate(), every=2)
    breach = [Sample("error_rate", 0.04, T0 + timedelta(minutes=m)) for m in range(3)]
    history.receive(breach)
    assert history.head is not None and history.head.state.machine is BREACH
    before = history.head.state
    history.criterion = error_rate(sustain=2)  # the runbook's new version
    later = [Sample("error_rate", 0.01, T0 + timedelta(minutes=m)) for m in (3, 4)]
    history.receive(later)
    assert history.head.state == replay(history.criterion, later, carry_over(before))
    assert history.head.state.machine is CLEAR  # two inside samples, by the new rule
    assert history.head.base == breach[-1].key
    assert list(history.checkpoints) == [breach[-1].key, later[0].key]  # counts go on: 4th
    late = Sample("error_rate", 0.09, T0 + timedelta(minutes=1, seconds=30))
    history.receive([late])  # from before the change: too old to count, not kept
    assert late.key not in history.samples
    assert history.head.state == replay(history.criterion, later, carry_over(before))


def test_a_breach_is_held_however_old_it_is_and_clears_only_by_hysteresis() -> None:
    """Eight hours in the band after a breach (two samples a minute): still a breach."""
    criterion = error_rate()  # breach above 0.025, clear below 0.015, 3 samples
    history = MemoryHistory(criterion, every=100)
    start = [0.03, 0.035, 0.04]
    history.receive(
        [Sample("error_rate", v, T0 + timedelta(seconds=30 * i)) for i, v in enumerate(start)]
    )
    at = T0 + timedelta(seconds=90)
    band = [0.016, 0.02, 0.024, 0.015, 0.025]
    for i in range(8 * 120):
        history.receive([Sample("error_rate", band[i % len(band)], at)])
        assert history.head is not None
        evaluation = judge(criterion, history.head.state, at)
        assert evaluation.state is BREACH, evaluation.explanation
        at += timedelta(seconds=30)
    assert at - T0 > timedelta(hours=8)
    assert "declared at 10:01" in evaluation.explanation
    for value in (0.01, 0.012):
        history.receive([Sample("error_rate", value, at)])
        assert history.head is not None and judge(criterion, history.head.state, at).state is BREACH
        at += timedelta(seconds=30)
    history.receive([Sample("error_rate", 0.011, at)])
    assert history.head is not None
    cleared = judge(criterion, history.head.state, at)
    assert cleared.state is CLEAR and cleared.changed_at == at
    assert history.replayed == 3 + 8 * 120 + 3  # one step per sample, never a replay

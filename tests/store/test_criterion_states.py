"""Criteria states in the database, on SQLite and PostgreSQL: the stored head is always the full
replay of the stored samples, whatever order they arrive in and however many writers store
them at once; drill samples keep a state of their own."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from sqlalchemy import Engine, func, select, text

from bot.core.criteria import evaluate_criterion
from bot.core.replay import CriterionState, Sample, initial_state, replay
from bot.core.resume import CHECKPOINT_EVERY
from bot.core.runbook import Runbook
from bot.store import make_engine, read_connection, session_scope, upgrade_database
from bot.store.criterion_states import (
    CHECKPOINTS,
    HEADS,
    Recorded,
    StoredHistory,
    Stream,
    current_evaluations,
    record_samples,
)
from bot.store.samples import Observation, add_samples, recent_samples

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
BREACH, CLEAR = CriterionState.BREACH, CriterionState.CLEAR


def ranking() -> Runbook:
    return Runbook.model_validate(
        YAML(typ="safe").load((RUNBOOKS / "ranking-model.yaml").read_text())
    )


def record(
    engine: Engine, samples: list[Sample], *, stream: str | None = None, now: datetime = T0
) -> Recorded:
    with session_scope(engine) as session:
        return record_samples(
            session,
            runbook=ranking(),
            observations=[Observation(sample) for sample in samples],
            source="drill" if stream else "metrics",
            now=now,
            stream=stream,
        )


def head_state(engine: Engine, metric: str = "error_rate", stream: str = "live") -> object:
    from bot.core.replay import state_from_json

    with read_connection(engine) as connection:
        row = connection.execute(
            select(HEADS.c.state).where(*Stream("ranking-model", metric, stream).of(HEADS))
        ).one()
    return state_from_json(metric, row.state)


def full_replay(engine: Engine, metric: str = "error_rate", stream: str = "live") -> object:
    runbook = ranking()
    criterion = runbook.criterion(metric)
    assert criterion is not None
    with read_connection(engine) as connection:
        samples = list(
            StoredHistory(connection, Stream(runbook.id, metric, stream)).samples_after(None)
        )
    return replay(criterion, samples, initial_state())


def errors(values: list[float], start: datetime = T0, every: timedelta = timedelta(minutes=1)):
    return [Sample("error_rate", v, start + i * every) for i, v in enumerate(values)]


def test_samples_in_order_advance_the_head_one_step_each(engine: Engine) -> None:
    samples = errors([0.01, 0.03, 0.035, 0.04, 0.02, 0.01])
    first = record(engine, samples[:2])
    assert (first.stored, first.replayed) == (2, 2)
    for sample in samples[2:]:
        assert record(engine, [sample]).replayed == 1
    assert head_state(engine) == full_replay(engine)
    with read_connection(engine) as connection:
        [evaluation, *_] = current_evaluations(connection, runbook=ranking(), now=samples[-1].at)
    assert evaluation == evaluate_criterion(ranking().criteria[0], samples, samples[-1].at)
    assert evaluation.state is BREACH and "declared at 10:03" in evaluation.explanation


def test_a_late_sample_is_replayed_from_the_checkpoint_before_it(engine: Engine) -> None:
    samples = errors([0.01] * (2 * CHECKPOINT_EVERY + 10), every=timedelta(seconds=10))
    record(engine, samples)
    with read_connection(engine) as connection:
        checkpoints = connection.execute(select(func.count()).select_from(CHECKPOINTS)).scalar()
    assert checkpoints == 2
    late = Sample("error_rate", 0.5, samples[-5].at + timedelta(seconds=1))
    recorded = record(engine, [late])
    # from the second checkpoint (after 200 samples), not from the beginning
    assert recorded.replayed == len(samples) - 2 * CHECKPOINT_EVERY + 1
    assert head_state(engine) == full_replay(engine)
    assert record(engine, [late]).stored == 0  # redelivered: stored once, nothing replayed


@pytest.mark.parametrize("seed", range(3))
def test_random_arrival_order_and_redelivery_give_the_full_replay(
    engine: Engine, seed: int
) -> None:
    rng = random.Random(seed)
    values = [rng.choice([0.005, 0.01, 0.02, 0.03, 0.04]) for _ in range(300)]
    samples = errors(values, every=timedelta(seconds=20))
    batches, rest = [], list(samples)
    while rest:
        size = rng.randint(1, 30)
        batches.append(rest[:size])
        rest = rest[size:]
    batches += [rng.sample(samples, 5) for _ in range(5)]
    rng.shuffle(batches)
    for batch in batches:
        record(engine, batch)
        assert head_state(engine) == full_replay(engine)
    assert head_state(engine) == replay(ranking().criteria[0], samples, initial_state())


def test_two_writers_at_once_keep_the_head_consistent(engine: Engine) -> None:
    samples = errors([0.01, 0.03, 0.04, 0.05, 0.01, 0.012] * 20, every=timedelta(seconds=15))
    shares = [samples[0::2], samples[1::2]]
    failures: list[BaseException] = []

    def write(share: list[Sample]) -> None:
        try:
            for i in range(0, len(share), 3):
                record(engine, share[i : i + 3])
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    threads = [threading.Thread(target=write, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert head_state(engine) == replay(ranking().criteria[0], samples, initial_state())


def test_drill_samples_keep_a_state_of_their_own(engine: Engine) -> None:
    record(engine, errors([0.01, 0.01, 0.01]))
    record(engine, errors([0.05, 0.05, 0.05]), stream="drill:7")
    record(engine, errors([0.05, 0.05, 0.05]), stream="drill:7")  # redelivered
    now = T0 + timedelta(minutes=2)
    with read_connection(engine) as connection:
        live = current_evaluations(connection, runbook=ranking(), now=now)
        drill = current_evaluations(connection, runbook=ranking(), now=now, stream="drill:7")
        assert [
            s.value for s in recent_samples(connection, runbook_id="ranking-model", since=T0)
        ] == [0.01] * 3
    assert (live[0].state, drill[0].state) == (CLEAR, BREACH)
    with pytest.raises(ValueError, match="drill samples go to a drill stream"):
        record(engine, errors([0.05]), stream="live-ish")


def test_samples_from_after_now_are_left_out_of_the_evaluation(engine: Engine) -> None:
    samples = errors([0.01, 0.01, 0.01, 0.05, 0.05, 0.05])
    record(engine, samples)
    now = samples[2].at
    with read_connection(engine) as connection:
        [evaluation, *_] = current_evaluations(connection, runbook=ranking(), now=now)
    assert evaluation == evaluate_criterion(ranking().criteria[0], samples, now)
    assert evaluation.state is CLEAR


def test_a_breach_is_held_for_eight_hours_of_band_values_and_cleared_by_hysteresis(
    engine: Engine,
) -> None:
    record(engine, errors([0.03, 0.035, 0.04]))
    at = T0 + timedelta(minutes=3)
    band = [0.016, 0.02, 0.024, 0.015, 0.025]
    for i in range(8 * 12):  # every 5 minutes for 8 hours
        assert record(engine, [Sample("error_rate", band[i % 5], at)], now=at).replayed == 1
        at += timedelta(minutes=5)
    with read_connection(engine) as connection:
        [held, *_] = current_evaluations(connection, runbook=ranking(), now=at)
    assert held.state is BREACH and "declared at 10:02" in held.explanation
    for value in (0.01, 0.012, 0.011):
        record(engine, [Sample("error_rate", value, at)], now=at)
        with read_connection(engine) as connection:
            [evaluation, *_] = current_evaluations(connection, runbook=ranking(), now=at)
        at += timedelta(minutes=5)
    assert evaluation.state is CLEAR
    assert evaluation.explanation.startswith("error_rate clear: the breach cleared at 18:13")


def test_samples_stored_before_the_upgrade_count_in_the_first_state(database_url: str) -> None:
    upgrade_database(database_url, revision="0004_outbox_open_jobs")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for i, (value, source) in enumerate(
                [(0.03, "metrics"), (0.04, "alertmanager"), (0.9, "drill")]
            ):
                connection.execute(
                    text(
                        "INSERT INTO metric_samples (runbook_id, metric, value, at, source, "
                        "received_at) VALUES ('ranking-model', 'error_rate', :value, :at, "
                        ":source, :at)"
                    ),
                    {
                        "value": value,
                        "at": (T0 + timedelta(minutes=i)).replace(tzinfo=None),
                        "source": source,
                    },
                )
        upgrade_database(database_url)
        with read_connection(engine) as connection:
            streams = dict(
                connection.execute(text("SELECT source, stream FROM metric_samples")).all()
            )
        assert streams == {"metrics": "live", "alertmanager": "live", "drill": "drill"}
        recorded = record(engine, [Sample("error_rate", 0.05, T0 + timedelta(minutes=3))])
        assert recorded.replayed == 3  # the two from before the upgrade, and the new one
        assert head_state(engine) == full_replay(engine)
        with read_connection(engine) as connection:
            [evaluation, *_] = current_evaluations(
                connection, runbook=ranking(), now=T0 + timedelta(minutes=3)
            )
        assert evaluation.state is BREACH
    finally:
        engine.dispose()


def test_a_streams_first_state_replays_its_last_six_hours_of_stored_samples(
    engine: Engine,
) -> None:
    """Samples stored without a state (before the upgrade to 0005): the first sample after
    replays the last six hours of them, as every push did before, and never more."""
    history = errors([0.02] * 8 * 60, every=timedelta(minutes=1))  # 8 hours, one a minute
    with session_scope(engine) as session:
        add_samples(session, runbook_id="ranking-model", samples=history, source="metrics", now=T0)
    now = history[-1].at + timedelta(minutes=1)
    recorded = record(engine, [Sample("error_rate", 0.02, now)], now=now)
    assert recorded.replayed == 6 * 60 + 1
    old = Sample("error_rate", 0.9, now - timedelta(hours=7))
    assert record(engine, [old], now=now).too_old == 1

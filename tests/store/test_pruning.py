"""Pruning, on SQLite and PostgreSQL: samples older than the retention go, in small batches,
unless a criterion can still need them (after its newest checkpoint older than the cutoff) or
a rollback being validated reads them; the criteria states are untouched."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from bot.core.replay import Sample, key_after, replay
from bot.core.resume import CHECKPOINT_EVERY
from bot.store import read_connection, session_scope
from bot.store.criterion_states import CHECKPOINTS, StoredHistory, Stream, current_evaluations
from bot.store.pruning import prune_samples
from bot.store.samples import SAMPLES, recent_samples
from bot.store.tables import Execution, RollbackRecommendation
from tests.hooks.support import EPOCH
from tests.store.test_criterion_states import T0, errors, head_state, ranking, record

DAY = timedelta(days=1)
RETENTION = timedelta(days=7)


def ten_days(engine: Engine) -> list[Sample]:
    """A sample every 10 minutes for 10 days (1,440), the last one at T0 + 10 days."""
    samples = errors([0.01, 0.012, 0.02] * 480, start=T0, every=timedelta(minutes=10))
    for start in range(0, len(samples), 200):
        record(engine, samples[start : start + 200], now=samples[start].at)
    return samples


def test_samples_older_than_the_retention_go_in_batches_and_the_state_stays(
    engine: Engine,
) -> None:
    samples = ten_days(engine)
    now = samples[-1].at
    before = head_state(engine)
    report = prune_samples(engine, now=now, retention=RETENTION, batch_size=100)
    with read_connection(engine) as connection:
        kept = [s.at for s in recent_samples(connection, runbook_id="ranking-model", since=EPOCH)]
        older_checkpoints = connection.execute(
            select(func.count()).where(CHECKPOINTS.c.at < min(kept))
        ).scalar_one()
    cutoff = now - RETENTION
    # everything up to the newest checkpoint before the cutoff is gone, nothing after it
    assert cutoff - timedelta(minutes=10) * CHECKPOINT_EVERY <= min(kept) <= cutoff
    assert report.deleted == len(samples) - len(kept) and report.batches >= report.deleted // 100
    assert head_state(engine) == before  # the state holds nothing of the samples
    assert older_checkpoints == 1  # the base: the last deleted sample's checkpoint
    again = prune_samples(engine, now=now, retention=RETENTION)
    assert again.deleted == 0


def test_after_pruning_new_samples_count_and_too_old_ones_are_refused(engine: Engine) -> None:
    samples = ten_days(engine)
    now = samples[-1].at
    prune_samples(engine, now=now, retention=RETENTION)
    later = errors([0.03, 0.04, 0.05], start=now + timedelta(minutes=1))
    assert record(engine, later, now=later[-1].at).stored == 3
    late = Sample("error_rate", 0.5, samples[-300].at + timedelta(seconds=1))  # inside: replayed
    assert record(engine, [late], now=later[-1].at).stored == 1
    with read_connection(engine) as connection:  # the head is the replay from the base
        history = StoredHistory(connection, Stream("ranking-model", "error_rate"))
        base = history.checkpoint_before(key_after(later[-1].at + DAY))
        while base is not None and (older := history.checkpoint_before(base.key)) is not None:
            base = older
        assert base is not None
        replayed = replay(ranking().criteria[0], list(history.samples_after(base.key)), base.state)
    assert head_state(engine) == replayed
    ancient = Sample("error_rate", 0.5, T0 + timedelta(seconds=1))  # before the base: too old
    refused = record(engine, [ancient], now=later[-1].at)
    assert (refused.stored, refused.too_old) == (0, 1)
    with read_connection(engine) as connection:
        [evaluation, *_] = current_evaluations(connection, runbook=ranking(), now=later[-1].at)
        oldest = connection.execute(select(func.min(SAMPLES.c.at))).scalar_one()
    assert evaluation.state.value == "breach"
    assert oldest > T0 + timedelta(seconds=1)


def test_a_rollback_being_validated_keeps_the_samples_since_it_started(engine: Engine) -> None:
    samples = ten_days(engine)
    now = samples[-1].at
    started = now - 9 * DAY
    with session_scope(engine) as session:
        recommendation = RollbackRecommendation(
            runbook_id="ranking-model",
            runbook_version=3,
            path_id="previous-model",
            state="executed",
            requested_by="monitoring",
            created_at=started,
            updated_at=started,
        )
        session.add(recommendation)
        session.flush()
        session.add(
            Execution(
                recommendation_id=recommendation.id,
                idempotency_key="k-1",
                path_id="previous-model",
                executor="command",
                state="succeeded",
                validation_state="watching",
                started_at=started,
                created_at=started,
                updated_at=started,
            )
        )
    prune_samples(engine, now=now, retention=RETENTION)
    with read_connection(engine) as connection:
        oldest = connection.execute(select(func.min(SAMPLES.c.at))).scalar_one()
    assert started - timedelta(minutes=10) * CHECKPOINT_EVERY <= oldest <= started

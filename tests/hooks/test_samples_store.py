"""The samples store: each observation once, read back in time order, on both backends."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from bot.core.criteria import Sample
from bot.store import read_connection, session_scope
from bot.store.samples import add_samples, recent_samples


def add(engine: Engine, samples: list[Sample], now: datetime, runbook_id: str = "rb") -> int:
    with session_scope(engine) as session:
        return add_samples(
            session, runbook_id=runbook_id, samples=samples, source="metrics", now=now
        )


def read(engine: Engine, since: datetime, **kwargs: object) -> list[Sample]:
    with read_connection(engine) as connection:
        return recent_samples(connection, runbook_id="rb", since=since, **kwargs)  # type: ignore[arg-type]


def test_a_redelivered_batch_is_stored_once(engine: Engine, now: datetime) -> None:
    batch = [
        Sample("error_rate", 0.03, now),
        Sample("error_rate", 0.04, now + timedelta(minutes=1)),
    ]
    assert add(engine, batch, now) == 2
    assert add(engine, batch, now + timedelta(seconds=5)) == 0
    assert read(engine, now) == batch


def test_repeats_inside_one_batch_count_once_but_other_values_at_the_same_time_count(
    engine: Engine, now: datetime
) -> None:
    batch = [Sample("error_rate", 0.03, now), Sample("error_rate", 0.03, now)]
    batch.append(Sample("error_rate", 0.05, now))
    assert add(engine, batch, now) == 2
    assert [s.value for s in read(engine, now)] == [0.03, 0.05]


def test_samples_come_back_aware_utc_in_time_order_filtered(engine: Engine, now: datetime) -> None:
    at = [now + timedelta(minutes=m) for m in range(4)]
    add(engine, [Sample("ctr", 0.2, at[3]), Sample("error_rate", 0.01, at[1])], now)
    add(engine, [Sample("error_rate", 0.02, at[0]), Sample("ctr", 0.3, at[2])], now)
    add(engine, [Sample("error_rate", 9.0, at[3])], now, runbook_id="other")
    assert [(s.metric, s.at) for s in read(engine, at[1])] == [
        ("error_rate", at[1]),
        ("ctr", at[2]),
        ("ctr", at[3]),
    ]
    assert read(engine, at[0], metrics=["error_rate"]) == [
        Sample("error_rate", 0.02, at[0]),
        Sample("error_rate", 0.01, at[1]),
    ]
    assert read(engine, at[0], metrics=[]) == []
    assert all(s.at.utcoffset() == timedelta(0) for s in read(engine, at[0]))


def test_large_batches_are_stored_whole(engine: Engine, now: datetime) -> None:
    batch = [Sample("error_rate", i / 10_000, now + timedelta(seconds=i)) for i in range(1_234)]
    assert add(engine, batch, now) == 1_234
    assert add(engine, batch, now) == 0
    assert len(read(engine, now)) == 1_234


def test_an_unknown_source_and_non_finite_values_are_refused(engine: Engine, now: datetime) -> None:
    with pytest.raises(ValueError, match="unknown sample source 'grafana'"):
        with session_scope(engine) as session:
            add_samples(session, runbook_id="rb", samples=[], source="grafana", now=now)
    with pytest.raises(ValueError, match="not a finite number"):
        add(engine, [Sample("error_rate", math.nan, now)], now)
    assert read(engine, now) == []

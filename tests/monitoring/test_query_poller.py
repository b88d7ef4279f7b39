"""The poller of query-backed criteria against a real Prometheus, on both databases: what a
poll stores, that a slot is read once however many replicas run it, and that every kind of
unusable answer is insufficient data with its reason, never healthy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from bot.core.replay import CriterionState
from bot.core.runbook import Runbook
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.queries import PROMETHEUS_QUERY, query_key, register_queries
from bot.scheduler.worker import TimerWorker
from bot.services.monitoring.asking import PrometheusServers
from bot.services.monitoring.queries import QueryPoller
from bot.services.rollbacks.recommendations import RollbackService
from bot.store import session_scope
from bot.store.query_readings import latest_readings
from bot.store.samples import SAMPLES
from bot.store.timers import TimerRow
from bot.store.transitions import table_of
from tests.monitoring.conftest import T0
from tests.prometheus_server import PrometheusServer

TIMERS = table_of(TimerRow)


def runbook(query: str, **extra: Any) -> Runbook:
    criterion = {
        "metric": "error_rate", "query": query, "interval": "1m", "above": 0.02,
        "margin": 0.005, "sustain": 3, "stale_after": "5m", "severity": "high", **extra,
    }  # fmt: skip
    return Runbook.model_validate(
        {
            "id": "live-model",
            "version": 1,
            "channels": ["C0RANKREL"],
            "roles": {"oncall": ["U0BRUNO"]},
            "criteria": [criterion],
            "paths": [
                {
                    "id": "previous-model",
                    "title": "Replace",
                    "kind": "model_replacement",
                    "covers": "critical",
                    "impact": {"revenue": 1, "customer": 1, "regulatory": 0},
                    "approval": {"roles": {"oncall": 1}},
                    "executor": {"type": "dry-run"},
                    "validation": {
                        "metric": "error_rate",
                        "window": "5m",
                        "endorse_role": "oncall",
                    },
                }  # fmt: skip
            ],
            "cooldown": "30m",
        }
    )


def poller(engine: Engine, book: Runbook, url: str | None) -> QueryPoller:
    registry = RunbookRegistry({book.id: book})
    return QueryPoller(
        engine=engine,
        runbooks=registry,
        servers=PrometheusServers(default_url=url, timeout=5),
        rollbacks=RollbackService(engine=engine, runbooks=registry),
    )


def minute(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


def stored(engine: Engine) -> list[tuple[float, datetime, str]]:
    with session_scope(engine) as session:
        rows = session.connection().execute(select(SAMPLES).order_by(SAMPLES.c.at)).all()
    return [(row.value, row.at, row.source) for row in rows]


def judged(engine: Engine, book: Runbook, now: datetime) -> tuple[CriterionState, str]:
    service = RollbackService(engine=engine, runbooks=RunbookRegistry({book.id: book}))
    with session_scope(engine) as session:
        [evaluation] = service.evaluate(session, runbook=book, now=now).criteria
    return evaluation.state, evaluation.explanation


def test_a_poll_stores_the_value_and_a_slot_is_read_once(
    engine: Engine, prometheus: PrometheusServer
) -> None:
    book = runbook('error_rate{job="ranking"}')
    polls = poller(engine, book, prometheus.url)
    for m in (16, 17, 18):  # 2.6 %, 2.7 %, 2.8 %: beyond 2.5 %
        polls.poll(runbook_id=book.id, metric="error_rate", at=minute(m), now=minute(m))
    again = polls.poll(runbook_id=book.id, metric="error_rate", at=minute(18), now=minute(18))
    assert again == "already read"
    assert stored(engine) == [
        (0.026, minute(16), "prometheus"),
        (0.027, minute(17), "prometheus"),
        (0.028, minute(18), "prometheus"),
    ]
    state, text = judged(engine, book, minute(18))
    assert state is CriterionState.BREACH
    assert 'query `error_rate{job="ranking"}` returned 0.028 at 00:18' in text
    with session_scope(engine) as session:
        reading = latest_readings(session, runbook_id=book.id)["error_rate"]
    assert (reading.raw, reading.value, reading.reason) == ("0.028", 0.028, None)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ('nothing_here{job="ranking"}', "empty_result: the query returned no series"),
        ('idle_ratio{job="ranking"}', "not_a_number: the query returned NaN"),
        ('per_request{job="ranking"}', "infinite: the query returned +Inf"),
        ("error_rate", "more_than_one_series: the query returned 2 series"),
        ('error_rate{job="ranking"', "http_error: Prometheus answered HTTP 400"),
    ],
)
def test_an_unusable_answer_is_insufficient_data_with_its_reason(
    engine: Engine, prometheus: PrometheusServer, query: str, reason: str
) -> None:
    book = runbook(query)
    polls = poller(engine, book, prometheus.url)
    for m in (16, 17, 18):
        polls.poll(runbook_id=book.id, metric="error_rate", at=minute(m), now=minute(m))
    assert stored(engine) == []
    state, text = judged(engine, book, minute(18))
    assert state is CriterionState.INSUFFICIENT_DATA
    assert f"gave no usable value at 00:18: {reason}" in text


def test_a_query_that_stops_answering_is_never_healthy(
    engine: Engine, prometheus: PrometheusServer
) -> None:
    book = runbook('error_rate{job="ranking"}')
    for m in (5, 6, 7):  # 1.5 % to 1.7 %: clear
        poller(engine, book, prometheus.url).poll(
            runbook_id=book.id, metric="error_rate", at=minute(m), now=minute(m)
        )
    assert judged(engine, book, minute(7))[0] is CriterionState.CLEAR
    poller(engine, book, "http://127.0.0.1:9").poll(  # nothing listens there
        runbook_id=book.id, metric="error_rate", at=minute(8), now=minute(8)
    )
    state, text = judged(engine, book, minute(8))
    assert state is CriterionState.INSUFFICIENT_DATA
    assert "gave no usable value at 00:08: unreachable" in text
    assert "never taken as healthy" in text
    unconfigured = poller(engine, book, None)
    unconfigured.poll(runbook_id=book.id, metric="error_rate", at=minute(9), now=minute(9))
    state, text = judged(engine, book, minute(9))
    assert state is CriterionState.INSUFFICIENT_DATA
    assert "not_configured: no Prometheus server" in text


def test_two_replicas_run_each_query_slot_once(
    engine: Engine, prometheus: PrometheusServer
) -> None:
    book = runbook('error_rate{job="ranking"}')
    workers = []
    for replica in ("a", "b"):
        worker = TimerWorker(engine=engine, clock=lambda: minute(16), replica=replica)
        assert register_queries(worker, poller(engine, book, prometheus.url), [book]) == 1
        worker.plan_recurring(minute(15) + timedelta(seconds=30))  # both plan 00:16
        workers.append(worker)
    for m in (16, 17):
        for worker in workers:
            worker.run_due(minute(m))
    assert [value for value, _, _ in stored(engine)] == [0.026, 0.027]
    with session_scope(engine) as session:
        done = (
            session.connection()
            .execute(
                select(func.count())
                .select_from(TIMERS)
                .where(TIMERS.c.kind == PROMETHEUS_QUERY, TIMERS.c.state == "done")
            )
            .scalar_one()
        )
        keys = set(session.connection().execute(select(TIMERS.c.key)).scalars())
    assert done == 2 and keys == {query_key(book.id, "error_rate")}

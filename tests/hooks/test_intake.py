"""``StoringIntake``: names checked against the runbooks, samples stored in one transaction,
then the rollback service's hook called; unknown names reported, never raised."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from bot.bootstrap import load_registry
from bot.config import load_settings
from bot.core.criteria import Sample
from bot.hooks.intake import StoringIntake
from bot.runbooks.registry import RunbookRegistry
from bot.store import read_connection
from bot.store.samples import recent_samples
from tests.hooks.support import EPOCH, ROOT


@pytest.fixture
def registry() -> RunbookRegistry:
    return load_registry(
        load_settings(runbooks_dir=ROOT / "runbooks", templates_dir=ROOT / "templates")
    )


def stored(engine: Engine, runbook_id: str = "ranking-model") -> list[Sample]:
    with read_connection(engine) as connection:
        return recent_samples(connection, runbook_id=runbook_id, since=EPOCH)


def test_known_samples_are_stored_then_the_evaluator_sees_them(
    engine: Engine, registry: RunbookRegistry, now: datetime
) -> None:
    seen: list[tuple[str, datetime, list[Sample]]] = []

    def evaluate(runbook_id: str, at: datetime) -> str:
        seen.append((runbook_id, at, stored(engine, runbook_id)))  # committed already
        return "breach: recommending disable-reranker"

    intake = StoringIntake(engine, registry, on_samples=evaluate)
    samples = [Sample("error_rate", 0.041, now), Sample("clicks", 3.0, now)]
    result = intake.ingest(runbook_id="ranking-model", samples=samples, source="metrics", now=now)
    assert result.known_runbook and result.stored == 1
    assert result.unknown_metrics == ["clicks"]
    assert result.decision == "breach: recommending disable-reranker"
    assert seen == [("ranking-model", now, [Sample("error_rate", 0.041, now)])]


def test_a_repeat_stores_nothing_but_is_evaluated_again(
    engine: Engine, registry: RunbookRegistry, now: datetime
) -> None:
    calls: list[datetime] = []
    intake = StoringIntake(engine, registry, on_samples=lambda _rb, at: calls.append(at))
    batch = [Sample("p99_latency_ms", 420.0, now)]
    later = now + timedelta(seconds=30)
    assert (
        intake.ingest(runbook_id="ranking-model", samples=batch, source="metrics", now=now).stored
        == 1
    )
    again = intake.ingest(runbook_id="ranking-model", samples=batch, source="metrics", now=later)
    assert (again.stored, again.decision) == (0, "stored 0; evaluated")
    assert calls == [now, later]
    assert len(stored(engine)) == 1


def test_an_unknown_runbook_is_reported_and_nothing_is_stored(
    engine: Engine, registry: RunbookRegistry, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    intake = StoringIntake(engine, registry, on_samples=lambda *_: pytest.fail("not evaluated"))
    result = intake.ingest(
        runbook_id="search-model",
        samples=[Sample("error_rate", 1.0, now)],
        source="alertmanager",
        now=now,
    )
    assert (result.known_runbook, result.stored) == (False, 0)
    assert stored(engine, "search-model") == []
    assert "unknown runbook 'search-model'" in caplog.text


def test_only_unknown_metrics_means_nothing_to_evaluate(
    engine: Engine, registry: RunbookRegistry, now: datetime
) -> None:
    intake = StoringIntake(engine, registry, on_samples=lambda *_: pytest.fail("not evaluated"))
    result = intake.ingest(
        runbook_id="ranking-model", samples=[Sample("cpu", 0.9, now)], source="metrics", now=now
    )
    assert (result.stored, result.unknown_metrics, result.decision) == (
        0,
        ["cpu"],
        "nothing to evaluate",
    )


def test_a_failing_evaluation_is_logged_and_reported_and_the_samples_stay(
    engine: Engine, registry: RunbookRegistry, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_runbook_id: str, _now: datetime) -> None:
        raise RuntimeError("rollback service down")

    intake = StoringIntake(engine, registry, on_samples=broken)
    result = intake.ingest(
        runbook_id="ranking-model", samples=[Sample("ctr", 0.11, now)], source="metrics", now=now
    )
    assert (result.stored, result.decision) == (1, "stored 1; evaluation failed (logged)")
    assert "rollback service down" in caplog.text
    assert stored(engine) == [Sample("ctr", 0.11, now)]


def test_without_an_evaluator_the_decision_says_so(
    engine: Engine, registry: RunbookRegistry, now: datetime
) -> None:
    result = StoringIntake(engine, registry).ingest(
        runbook_id="fraud-model",
        samples=[Sample("decline_rate", 0.02, now)],
        source="drill",
        now=now,
    )
    assert result.decision == "stored 1; no evaluator connected"

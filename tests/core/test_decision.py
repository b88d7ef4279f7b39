"""The whole decision: what is declared, what is recommended, and the cooldown after a rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ruamel.yaml import YAML

from bot.core.criteria import CriterionState, Sample
from bot.core.decision import cooldown_after, decide
from bot.core.runbook import Runbook

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def load(name: str) -> Runbook:
    return Runbook.model_validate(YAML(typ="safe").load(RUNBOOKS / f"{name}.yaml"))


def error_spike(values: list[float]) -> list[Sample]:
    return [Sample("error_rate", v, T0 + timedelta(minutes=i)) for i, v in enumerate(values)]


def test_a_sustained_error_spike_recommends_the_model_replacement() -> None:
    runbook = load("ranking-model")
    now = T0 + timedelta(minutes=3)
    decision = decide(runbook, error_spike([0.012, 0.031, 0.036, 0.041]), now)
    assert decision.severity == "high"
    assert [e.metric for e in decision.breached] == ["error_rate"]
    assert decision.recommendation is not None
    assert decision.recommendation.path.id == "previous-model"
    assert "recommend previous-model" in decision.summary()


def test_noise_inside_the_margin_recommends_nothing() -> None:
    runbook = load("ranking-model")
    decision = decide(
        runbook, error_spike([0.021, 0.024, 0.019, 0.023, 0.0249]), T0 + timedelta(minutes=4)
    )
    assert decision.recommendation is None
    assert decision.criteria[0].state is CriterionState.CLEAR


def test_missing_data_is_reported_never_healthy() -> None:
    runbook = load("ranking-model")
    decision = decide(runbook, [], T0)
    assert decision.recommendation is None
    assert all(e.state is CriterionState.INSUFFICIENT_DATA for e in decision.criteria)
    assert decision.summary().startswith("no breach declared, but there is not enough fresh data")


def test_cooldown_after_a_rollback_holds_back_a_new_recommendation() -> None:
    runbook = load("ranking-model")
    now = T0 + timedelta(minutes=3)
    samples = error_spike([0.012, 0.031, 0.036, 0.041])
    held = decide(runbook, samples, now, last_rollback_at=now - timedelta(minutes=10))
    assert held.recommendation is None
    assert held.severity == "high"
    assert held.cooldown == cooldown_after(now - timedelta(minutes=10), runbook)
    assert "cooldown for another 20m" in held.summary()
    after = decide(runbook, samples, now, last_rollback_at=now - runbook.cooldown)
    assert after.cooldown is None and after.recommendation is not None


def test_high_risk_runbook_declares_after_two_samples() -> None:
    runbook = load("fraud-model")
    samples = [
        Sample("false_negative_rate", 0.047, T0),
        Sample("false_negative_rate", 0.052, T0 + timedelta(seconds=30)),
    ]
    decision = decide(runbook, samples, T0 + timedelta(seconds=30))
    assert decision.severity == "critical"
    assert decision.recommendation is not None
    assert decision.recommendation.path.id == "previous-model"
    assert decision.recommendation.approval.reject_blocks is True

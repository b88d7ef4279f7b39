"""``releasebot evaluate --runbook ID --prometheus URL``: query-backed criteria judged live
against a real Prometheus (the half hour of data of ``conftest.py``)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.hooks.metrics_document import format_instant
from tests.cli.conftest import restore_logging  # noqa: F401 - the fixture, for main()
from tests.monitoring.conftest import T0
from tests.prometheus_server import PrometheusServer

ROOT = Path(__file__).resolve().parents[2]

RUNBOOK = """
id: live-model
version: 2
channels: ["C0RANKREL"]
roles: {oncall: ["S0ONCALL"]}
criteria:
  - metric: error_rate
    query: 'error_rate{job="ranking"}'
    interval: 1m
    above: 0.02
    margin: 0.005
    sustain: 3
    stale_after: 5m
    severity: high
  - metric: error_rate_vs_fraud
    query: 'error_rate{job="ranking"}'
    baseline_query: 'error_rate{job="fraud"}'
    compare: percent
    interval: 1m
    above: 50
    margin: 5
    sustain: 3
    stale_after: 5m
    severity: high
  - metric: any_error_rate
    query: error_rate
    interval: 1m
    above: 0.02
    margin: 0.005
    sustain: 3
    stale_after: 5m
    severity: high
  - metric: idle_ratio
    query: 'idle_ratio{job="ranking"}'
    interval: 1m
    above: 0.5
    margin: 0.1
    sustain: 3
    stale_after: 5m
    severity: medium
paths:
  - id: previous-model
    title: Replace the model
    kind: model_replacement
    covers: critical
    impact: {revenue: 2, customer: 2, regulatory: 0}
    approval: {roles: {oncall: 1}, expires_after: 1h}
    executor: {type: dry-run}
    validation: {metric: error_rate, window: 5m, endorse_role: oncall}
cooldown: 30m
"""


@pytest.fixture
def runbooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "live-model.yaml").write_text(RUNBOOK)
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(folder))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))
    return folder


def evaluate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(["evaluate", "--runbook", "live-model", "--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else None


def test_live_evaluation_asks_prometheus_and_shows_query_and_raw_value(
    runbooks: Path, prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    now = format_instant(T0 + timedelta(minutes=25))
    code, result = evaluate(capsys, "--prometheus", prometheus.url, "--now", now)
    assert code == 3  # a rollback is recommended
    states = {c["metric"]: (c["state"], c["explanation"]) for c in result["criteria"]}
    state, text = states["error_rate"]
    assert state == "breach"
    assert "0.033 at 00:23, 0.034 at 00:24, 0.035 at 00:25" in text
    assert 'query `error_rate{job="ranking"}` returned 0.035 at 00:25' in text
    state, text = states["error_rate_vs_fraud"]
    assert state == "breach"  # 0.035 against 0.002: +1650 %
    assert "(canary 0.035 − baseline 0.002) / 0.002 × 100 = +1650 %" in text
    assert "returned 0.035 vs 0.002 at 00:25" in text
    state, text = states["any_error_rate"]
    assert state == "insufficient_data"
    assert "more_than_one_series" in text and 'job="fraud"' in text
    state, text = states["idle_ratio"]
    assert state == "insufficient_data" and "not_a_number: the query returned NaN" in text
    assert result["recommendation"]["path"] == "previous-model"


def test_live_evaluation_before_the_breach_is_clear(
    runbooks: Path, prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    now = format_instant(T0 + timedelta(minutes=10))  # 1.5 % to 2 %: inside the band
    code, result = evaluate(capsys, "--prometheus", prometheus.url, "--now", now)
    states = {c["metric"]: c["state"] for c in result["criteria"]}
    assert states["error_rate"] == "clear"
    assert code == 3  # the relative criterion is in breach all along


def test_an_unreachable_prometheus_is_insufficient_data(
    runbooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = format_instant(T0 + timedelta(minutes=25))
    code, result = evaluate(capsys, "--prometheus", "http://127.0.0.1:9", "--now", now)
    assert code == 0
    assert {c["state"] for c in result["criteria"]} == {"insufficient_data"}
    assert all("unreachable" in c["explanation"] for c in result["criteria"])


def test_evaluate_needs_samples_or_prometheus(
    runbooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--runbook", "live-model"]) == 1
    assert "give --samples FILE, --prometheus URL or both" in capsys.readouterr().err

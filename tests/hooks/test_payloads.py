"""Alertmanager's webhook body as values: what becomes a sample, what is reported, what is
refused. Pure: no HTTP, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.criteria import Sample
from bot.hooks.payloads import (
    PayloadError,
    alertmanager_samples,
    parse_alertmanager_payload,
)
from tests.hooks.support import ranking_alert, shared_payload

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def intake_of(document: dict[str, Any], now: datetime = NOW) -> Any:
    return alertmanager_samples(parse_alertmanager_payload(document), now)


def problems_of(document: Any) -> list[str]:
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager_payload(document)
    return caught.value.problems


def test_the_captured_payloads_parse_with_nanosecond_times() -> None:
    payload = parse_alertmanager_payload(shared_payload("firing"))
    alert = payload.alerts[0]
    assert payload.version == "4" and payload.status == "firing"
    assert payload.group_key == '{}:{alertname="HighCPU", instance="node-1"}'
    assert alert.starts_at == datetime(2026, 11, 22, 2, 50, 42, 667262, tzinfo=UTC)
    assert alert.ended_at() is None  # Alertmanager's "0001-01-01T00:00:00Z" means unset
    assert alert.fingerprint == "75a7997fd166ad46"


def test_an_alert_without_runbook_labels_is_reported_not_refused() -> None:
    found = intake_of(shared_payload("firing"))
    assert found.accepted == []
    assert [s.describe() for s in found.skipped] == [
        "alert 75a7997fd166ad46 (HighCPU): no 'runbook' label"
    ]


def test_a_firing_alert_with_a_value_is_a_sample_at_delivery_time() -> None:
    found = intake_of(ranking_alert(shared_payload("firing")))
    assert found.skipped == []
    [accepted] = found.accepted
    assert accepted.runbook_id == "ranking-model"
    starts_at = datetime(2026, 11, 22, 2, 50, 42, 667262, tzinfo=UTC)
    assert accepted.sample == Sample("error_rate", 0.041, NOW, since=starts_at)
    assert accepted.status == "firing"
    assert accepted.alert_key == f"firing|75a7997fd166ad46|{starts_at.isoformat()}|0.041"
    assert accepted.summary()["starts_at"] == "2026-11-22T02:50:42.667262+00:00"


def test_a_resolved_alert_is_a_sample_at_its_end() -> None:
    found = intake_of(ranking_alert(shared_payload("resolved"), value="0.012"))
    [accepted] = found.accepted
    assert accepted.sample == Sample(
        "error_rate", 0.012, datetime(2026, 11, 22, 2, 50, 50, tzinfo=UTC)
    )


def test_a_resolved_alert_ending_after_now_is_a_sample_at_now() -> None:
    early = datetime(2026, 11, 22, 2, 50, 45, tzinfo=UTC)
    found = intake_of(ranking_alert(shared_payload("resolved"), value="0.012"), early)
    assert found.accepted[0].sample.at == early


def test_a_truncated_group_says_how_many_alerts_are_missing() -> None:
    found = intake_of(shared_payload("firing_truncated"))
    assert found.truncated_alerts == 1
    assert [s.fingerprint for s in found.skipped] == ["43e1d7fd7bd9aba1", "2145c1e24f40aa1e"]


@pytest.mark.parametrize(
    ("labels", "annotation", "reason"),
    [
        ({"runbook": "ranking-model"}, "0.1", "no 'metric' label"),
        ({"runbook": " ", "metric": "error_rate"}, "0.1", "no 'runbook' label"),
        ({"runbook": "ranking-model", "metric": "error_rate"}, None, "no 'value' annotation"),
        (
            {"runbook": "ranking-model", "metric": "error_rate"},
            "high",
            "annotation 'value' is not a finite number: 'high'",
        ),
        (
            {"runbook": "ranking-model", "metric": "error_rate"},
            "NaN",
            "annotation 'value' is not a finite number: 'NaN'",
        ),
        (
            {"runbook": "ranking-model", "metric": "error_rate"},
            "+Inf",
            "annotation 'value' is not a finite number: '+Inf'",
        ),
    ],
)
def test_alerts_without_a_usable_observation_are_skipped_with_the_reason(
    labels: dict[str, str], annotation: str | None, reason: str
) -> None:
    document = shared_payload("firing")
    document["alerts"][0]["labels"].update(labels)
    if annotation is not None:
        document["alerts"][0]["annotations"]["value"] = annotation
    found = intake_of(document)
    assert found.accepted == []
    assert [s.reason for s in found.skipped] == [reason]


def test_alerts_of_several_runbooks_are_grouped_by_runbook() -> None:
    document = shared_payload("firing_truncated")
    for alert, (runbook, metric, value) in zip(
        document["alerts"],
        [("ranking-model", "p99_latency_ms", " 412 "), ("fraud-model", "decline_rate", "1e-2")],
        strict=True,
    ):
        alert["labels"].update(runbook=runbook, metric=metric)
        alert["annotations"]["value"] = value
    grouped = intake_of(document).by_runbook()
    assert {rb: [a.sample.value for a in found] for rb, found in grouped.items()} == {
        "ranking-model": [412.0],
        "fraud-model": [0.01],
    }


def test_fields_added_by_newer_alertmanagers_are_tolerated() -> None:
    document = ranking_alert(shared_payload("firing"))
    document["newTopLevelField"] = {"anything": True}
    document["alerts"][0]["silencedBy"] = []
    assert len(intake_of(document).accepted) == 1


def test_another_payload_version_is_refused_with_the_reason() -> None:
    document = shared_payload("firing")
    document["version"] = "5"
    assert problems_of(document) == [
        "version: unsupported webhook payload version '5': releasebot reads version 4"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("alerts"), "alerts: Field required"),
        (lambda d: d.pop("version"), "version: Field required"),
        (lambda d: d["alerts"][0].update(status="pending"), "alerts.0.status: Input should be"),
        (lambda d: d["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt: 'yesterday'"),
        (lambda d: d["alerts"][0]["labels"].update(n=1), "alerts.0.labels.n: Input should be"),
        (lambda d: d.update(truncatedAlerts=-1), "truncatedAlerts: Input should be greater"),
    ],
)
def test_malformed_payloads_name_the_field_at_fault(change: Any, expected: str) -> None:
    document = shared_payload("firing")
    change(document)
    problems = problems_of(document)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_document_that_is_not_an_object_is_refused() -> None:
    [problem] = problems_of([1, 2])
    assert problem.startswith("document: Input should be a valid dictionary")

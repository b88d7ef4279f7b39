"""Monitoring posts to the real WSGI app (``bootstrap.build``): every refusal has its status and
reason, unknown names are answered 2xx, and a redelivery is stored once."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection

import pytest
from flask import Flask
from pydantic import SecretStr
from werkzeug.test import EnvironBuilder, run_wsgi_app

from bot.core.criteria import Sample
from bot.hooks.intake import IngestResult
from bot.hooks.routes import register_hooks
from bot.web.metrics import BotMetrics
from bot.web.server import BackgroundServer
from tests.hooks.support import TOKEN, HookBot, ranking_alert, shared_payload

HOOKS = ["alertmanager", "metrics"]
AT = "2026-11-22T02:59:00Z"


class _AnyText(str):
    """Equal to any non-empty text: the decision is the rollback service's to word."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_TEXT = _AnyText("<any decision>")


def metrics_body(*samples: tuple[str, float, str], runbook: str = "ranking-model") -> dict:
    return {
        "runbook": runbook,
        "samples": [{"metric": m, "value": v, "at": at} for m, v, at in samples],
    }


@pytest.mark.parametrize("hook", HOOKS)
def test_without_a_token_configured_the_hooks_are_off(
    bot_without_token: HookBot, hook: str
) -> None:
    answer = bot_without_token.post(hook, metrics_body(("error_rate", 0.1, AT)))
    assert answer.status_code == 503
    assert "RELEASEBOT_HOOK_TOKEN is not set" in answer.get_json()["error"]
    assert bot_without_token.stored_rows() == 0
    assert bot_without_token.counted(hook, 503) == 1


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer "}, "missing bearer token"),
        ({"Authorization": f"Basic {TOKEN}"}, "missing bearer token"),
        ({"Authorization": "Bearer not-the-token"}, "invalid bearer token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid bearer token"),
    ],
)
def test_a_missing_or_wrong_token_is_refused(
    bot: HookBot, hook: str, headers: dict[str, str], reason: str
) -> None:
    answer = bot.post(hook, metrics_body(("error_rate", 0.1, AT)), token=None, headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"].startswith(reason)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert bot.stored_rows() == 0


def test_the_bearer_scheme_is_case_insensitive(bot: HookBot) -> None:
    answer = bot.post(
        "metrics",
        metrics_body(("error_rate", 0.1, AT)),
        token=None,
        headers={"Authorization": f"bearer {TOKEN}"},
    )
    assert answer.status_code == 202


@pytest.mark.parametrize("hook", HOOKS)
def test_an_oversized_body_is_refused_by_its_length(bot: HookBot, hook: str) -> None:
    answer = bot.post(hook, b"{" + b" " * 1_048_576 + b"}")
    assert answer.status_code == 413
    assert "limit is 1048576" in answer.get_json()["error"]
    assert bot.counted(hook, 413) == 1


@pytest.mark.parametrize("hook", HOOKS)
def test_a_body_that_is_not_json_is_refused(bot: HookBot, hook: str) -> None:
    assert bot.post(hook, "runbook=ranking-model", content_type="text/plain").status_code == 415
    answer = bot.post(hook, b"{not json")
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("body is not valid JSON")


def test_a_bad_alertmanager_body_names_the_fields(bot: HookBot) -> None:
    document = shared_payload("firing")
    document["version"] = "3"
    del document["alerts"][0]["startsAt"]
    answer = bot.post("alertmanager", document)
    assert answer.status_code == 422
    assert answer.get_json() == {
        "error": "invalid payload",
        "problems": [
            "version: unsupported webhook payload version '3': releasebot reads version 4",
            "alerts.0.startsAt: Field required",
        ],
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"samples": []}, "runbook: required on /hooks/metrics"),
        ({"runbook": "ranking-model"}, "samples: Field required"),
        (
            {"runbook": "ranking-model", "samples": [{"metric": "error_rate", "at": AT}]},
            "samples.0.value: Field required",
        ),
        (
            {"runbook": "ranking-model", "samples": [{"metric": "x", "value": "high", "at": AT}]},
            "samples.0.value: Input should be a valid number",
        ),
        ({"runbook": "ranking-model", "samples": [], "extra": 1}, "extra: Extra inputs"),
        ([], "document: Input should be"),
    ],
)
def test_a_bad_metrics_body_names_the_fields(bot: HookBot, body: object, problem: str) -> None:
    answer = bot.post("metrics", body)
    assert answer.status_code == 422
    assert any(p.startswith(problem) for p in answer.get_json()["problems"]), answer.get_json()
    assert bot.counted("metrics", 422) == 1


def test_an_infinite_value_is_refused(bot: HookBot) -> None:
    body = '{"runbook": "ranking-model", "samples": [{"metric": "ctr", "value": %s, "at": "%s"}]}'
    for infinity in ("Infinity", "-Infinity", '"+Inf"'):
        answer = bot.post("metrics", body % (infinity, AT))
        assert answer.status_code == 422
        assert answer.get_json()["problems"] == ["samples.0.value: must be a finite number"]
    assert bot.stored_rows() == 0


def test_samples_are_stored_once_even_when_delivered_twice(bot: HookBot) -> None:
    body = metrics_body(("error_rate", 0.031, AT), ("p99_latency_ms", 410.0, AT))
    first = bot.post("metrics", body)
    assert first.status_code == 202
    assert first.get_json() == {"stored": 2, "ignored": [], "decision": ANY_TEXT}
    bot.clock.now += timedelta(seconds=10)
    again = bot.post("metrics", body)
    assert (again.status_code, again.get_json()["stored"]) == (202, 0)
    at = datetime(2026, 11, 22, 2, 59, tzinfo=UTC)
    assert bot.stored() == [Sample("error_rate", 0.031, at), Sample("p99_latency_ms", 410.0, at)]
    assert bot.counted("metrics", 202) == 2


def test_an_unknown_runbook_is_acknowledged_and_nothing_is_stored(bot: HookBot) -> None:
    answer = bot.post("metrics", metrics_body(("error_rate", 0.5, AT), runbook="search-model"))
    assert answer.status_code == 202
    assert answer.get_json() == {
        "stored": 0,
        "ignored": ["runbook 'search-model' is unknown (1 sample(s) ignored)"],
        "decision": "ignored: unknown runbook",
    }
    assert bot.stored_rows() == 0


def test_an_unknown_metric_is_acknowledged_and_only_known_ones_are_stored(bot: HookBot) -> None:
    answer = bot.post("metrics", metrics_body(("gpu_util", 0.9, AT), ("ctr", 0.12, AT)))
    assert answer.status_code == 202
    assert answer.get_json()["ignored"] == [
        "metric 'gpu_util' is not read by runbook 'ranking-model'"
    ]
    assert [s.metric for s in bot.stored()] == ["ctr"]


def test_a_firing_alert_is_a_sample_now_and_its_redelivery_counts_once(bot: HookBot) -> None:
    document = ranking_alert(shared_payload("firing"))
    first = bot.post("alertmanager", document)
    assert first.status_code == 202
    assert first.get_json() == {
        "stored": 1,
        "ignored": [],
        "decision": ANY_TEXT,  # the rollback service's, prefixed with the runbook
        "truncated_alerts": 0,
    }
    assert first.get_json()["decision"].startswith("ranking-model: ")
    assert bot.post("alertmanager", document).get_json()["stored"] == 0
    starts_at = datetime(2026, 11, 22, 2, 50, 42, 667262, tzinfo=UTC)
    assert bot.stored() == [Sample("error_rate", 0.041, bot.clock.now, since=starts_at)]
    assert bot.counted("alertmanager", 202) == 2


def test_a_resolved_alert_is_a_sample_at_its_end(bot: HookBot) -> None:
    answer = bot.post("alertmanager", ranking_alert(shared_payload("resolved"), value="0.009"))
    assert answer.get_json()["stored"] == 1
    bot.clock.now += timedelta(minutes=1)  # Alertmanager resends it later: still one sample
    assert (
        bot.post(
            "alertmanager", ranking_alert(shared_payload("resolved"), value="0.009")
        ).get_json()["stored"]
        == 0
    )
    assert bot.stored() == [
        Sample("error_rate", 0.009, datetime(2026, 11, 22, 2, 50, 50, tzinfo=UTC))
    ]


def test_alerts_that_are_not_for_releasebot_are_acknowledged_and_reported(bot: HookBot) -> None:
    answer = bot.post("alertmanager", shared_payload("firing_truncated"))
    assert answer.status_code == 202
    assert answer.get_json() == {
        "stored": 0,
        "ignored": [
            "alert 43e1d7fd7bd9aba1 (DiskFull): no 'runbook' label",
            "alert 2145c1e24f40aa1e (DiskFull): no 'runbook' label",
        ],
        "decision": "no alert carried a runbook sample",
        "truncated_alerts": 1,
    }


def test_an_alert_for_an_unknown_runbook_or_metric_is_acknowledged(bot: HookBot) -> None:
    document = shared_payload("firing_truncated")
    document["alerts"][0]["labels"].update(runbook="search-model", metric="error_rate")
    document["alerts"][1]["labels"].update(runbook="ranking-model", metric="disk_full")
    for alert in document["alerts"]:
        alert["annotations"]["value"] = "0.97"
    answer = bot.post("alertmanager", document)
    assert answer.status_code == 202
    assert answer.get_json()["ignored"] == [
        "runbook 'search-model' is unknown (1 sample(s) ignored)",
        "metric 'disk_full' is not read by runbook 'ranking-model'",
    ]
    assert bot.stored_rows() == 0


def test_hook_requests_are_counted_on_the_metrics_page(bot: HookBot) -> None:
    bot.post("metrics", metrics_body(("ctr", 0.1, AT)), token="wrong")
    page = bot.client.get("/metrics").get_data(as_text=True)
    assert 'releasebot_hook_requests_total{hook="metrics",status="401"} 1.0' in page


# ---- the route layer alone, with a recording intake -------------------------------------


class RecordingIntake:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, object]] = []
        self.fail = fail

    def ingest(self, **kwargs: object) -> IngestResult:
        if self.fail:
            raise RuntimeError("database unreachable")
        self.calls.append(kwargs)
        return IngestResult(known_runbook=True, stored=1, decision="ok")


def small_app(intake: RecordingIntake, limit: int = 200) -> Flask:
    web = Flask("test")
    register_hooks(
        web,
        hook_token=SecretStr(TOKEN),
        intake=intake,
        metrics=BotMetrics(),
        clock=lambda: datetime(2026, 11, 22, 3, tzinfo=UTC),
        max_body_bytes=limit,
    )
    return web


def test_a_chunked_body_without_a_length_is_measured_as_it_is_read() -> None:
    intake = RecordingIntake()
    body = json.dumps(metrics_body(*[("ctr", 0.1, AT)] * 5)).encode()
    assert len(body) > 200
    with BackgroundServer(small_app(intake)) as server:
        connection = HTTPConnection(server.url.removeprefix("http://"), timeout=10)
        try:
            connection.request(
                "POST",
                "/hooks/metrics",
                body=iter([body[:100], body[100:]]),  # sent chunked: no Content-Length
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                encode_chunked=True,
            )
            answer = connection.getresponse()
            assert answer.status == 413
            assert json.loads(answer.read())["error"].endswith("the limit is 200")
        finally:
            connection.close()
    assert intake.calls == []


def test_a_body_whose_length_is_not_declared_is_measured_as_it_is_read() -> None:
    """Waitress counts a chunked body for us; a WSGI server that does not is covered too."""
    intake = RecordingIntake()
    body = json.dumps(metrics_body(*[("ctr", 0.1, AT)] * 5)).encode()
    environ = EnvironBuilder(
        path="/hooks/metrics",
        method="POST",
        input_stream=io.BytesIO(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True
    app_iter, status, _headers = run_wsgi_app(small_app(intake), environ, buffered=True)
    assert status.startswith("413")
    assert json.loads(b"".join(app_iter)) == {"error": "body is over the limit of 200 bytes"}
    assert intake.calls == []


def test_the_alerts_behind_the_samples_reach_the_intake() -> None:
    intake = RecordingIntake()
    client = small_app(intake, limit=10_000).test_client()
    answer = client.post(
        "/hooks/alertmanager",
        json=ranking_alert(shared_payload("firing")),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 202
    [call] = intake.calls
    assert call["source"] == "alertmanager" and call["runbook_id"] == "ranking-model"
    assert call["alerts"] == [
        {
            "fingerprint": "75a7997fd166ad46",
            "alertname": "HighCPU",
            "status": "firing",
            "metric": "error_rate",
            "value": 0.041,
            "at": "2026-11-22T03:00:00+00:00",
            "starts_at": "2026-11-22T02:50:42.667262+00:00",
        }
    ]


def test_a_fault_while_storing_is_a_500_so_the_sender_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = small_app(RecordingIntake(fail=True), limit=10_000).test_client()
    answer = client.post(
        "/hooks/metrics",
        json=metrics_body(("ctr", 0.1, AT)),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 500
    assert answer.get_json() == {"error": "could not store the samples; retry later"}
    assert "database unreachable" in caplog.text

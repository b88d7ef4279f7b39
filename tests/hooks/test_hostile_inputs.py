"""Inputs a careless or hostile sender may post to the hooks: each is answered with a 4xx and a
reason (never a 500 "retry later", which Alertmanager would retry forever) and stores nothing;
NaN is missing data, as the README says; a short hook token is refused at start."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from bot.config import load_settings
from tests.hooks.support import HookBot, ranking_alert, shared_payload

HOOKS = ["alertmanager", "metrics"]
AT = "2026-11-22T02:59:00Z"  # a minute before the bot's clock in these tests


def one_sample(value: object = 0.01, at: object = AT) -> dict[str, object]:
    return {"runbook": "ranking-model", "samples": [{"metric": "ctr", "value": value, "at": at}]}


@pytest.mark.parametrize("hook", HOOKS)
def test_json_nested_100000_deep_is_a_400(bot: HookBot, hook: str) -> None:
    answer = bot.post(hook, b"[" * 100_000 + b"]" * 100_000)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "body is not valid JSON here: it nests too deeply"
    assert bot.counted(hook, 500) == 0


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("number", ["9" * 5_000, "0." + "1" * 5_000, "1e" + "9" * 200])
def test_a_5000_digit_number_is_a_400(bot: HookBot, hook: str, number: str) -> None:
    body = json.dumps(one_sample()).replace("0.01", number)
    answer = bot.post(hook, body)
    assert answer.status_code == 400
    assert "more than 100" in answer.get_json()["error"]
    assert bot.stored_rows() == 0


def test_a_number_of_a_reasonable_length_is_still_read(bot: HookBot) -> None:
    answer = bot.post("metrics", json.dumps(one_sample()).replace("0.01", "0." + "1" * 90))
    assert answer.status_code == 202 and answer.get_json()["stored"] == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "samples.0.value: Input should be a valid number, not a boolean"),
        (False, "samples.0.value: Input should be a valid number, not a boolean"),
        ("high", "samples.0.value: Input should be a valid number, not 'high'"),
        ([0.1], "samples.0.value: Input should be a valid number, not list"),
        (None, "samples.0.value: Input should be a valid number, not NoneType"),
    ],
)
def test_a_boolean_is_not_a_value(bot: HookBot, value: object, problem: str) -> None:
    answer = bot.post("metrics", one_sample(value=value))
    assert answer.status_code == 422
    assert answer.get_json() == {"error": "invalid payload", "problems": [problem]}
    assert bot.stored_rows() == 0


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("0001-01-01T00:00:00Z", "'0001-01-01T00:00:00Z' is before 1970"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59+00:00 is 2912117d20h59m59s ahead of"),
        (1_795_000_000, "an epoch number is not a time: give an ISO-8601 time with its zone"),
        (1_795_000_000.5, "an epoch number is not a time"),
        ("1795000000", "'1795000000' is not an ISO-8601 time with a zone"),
        ("2026-11-22T02:59:00", "'2026-11-22T02:59:00' has no time zone: add Z (UTC)"),
        ("2026-11-22", "'2026-11-22' has no time zone"),
        ("noon", "'noon' is not an ISO-8601 time with a zone (e.g. 2026-11-22T10:03:00Z)"),
        (True, "a boolean is not a time"),
        ("2026-11-22T03:06:00Z", "is 6m ahead of the bot's clock (2026-11-22T03:00:00+00:00)"),
    ],
)
def test_times_a_sample_cannot_have_are_refused_with_400_and_the_reason(
    bot: HookBot, at: object, reason: str
) -> None:
    answer = bot.post("metrics", one_sample(at=at))
    assert answer.status_code == 400
    [problem] = answer.get_json()["problems"]
    assert problem.startswith("samples.0.at: ") and reason in problem, problem
    assert answer.get_json()["error"] == "invalid time"
    assert bot.stored_rows() == 0


def test_a_sample_a_little_ahead_of_the_bot_is_taken(bot: HookBot) -> None:
    answer = bot.post("metrics", one_sample(at="2026-11-22T03:04:00+00:00"))
    assert answer.status_code == 202 and answer.get_json()["stored"] == 1


@pytest.mark.parametrize(
    ("field", "at", "reason"),
    [
        ("startsAt", "2026-11-22T02:50:42", "has no time zone"),
        ("startsAt", 1_795_000_000, "an epoch number is not a time"),
        ("startsAt", "0001-01-01T00:00:00Z", "is before 1970"),
        ("endsAt", "1969-12-31T23:59:59Z", "is before 1970"),
    ],
)
def test_alertmanager_times_are_read_as_strictly(
    bot: HookBot, field: str, at: object, reason: str
) -> None:
    document = ranking_alert(shared_payload("firing"))
    document["alerts"][0][field] = at
    answer = bot.post("alertmanager", document)
    assert answer.status_code == 400
    [problem] = answer.get_json()["problems"]
    assert problem.startswith(f"alerts.0.{field}: ") and reason in problem, problem


def test_an_alert_that_starts_in_the_future_is_skipped_with_the_reason(bot: HookBot) -> None:
    document = ranking_alert(shared_payload("firing"))
    document["alerts"][0]["startsAt"] = "9999-12-31T23:59:59Z"
    answer = bot.post("alertmanager", document)
    assert answer.status_code == 202
    [ignored] = answer.get_json()["ignored"]
    assert ignored.startswith("alert 75a7997fd166ad46 (HighCPU): startsAt 9999-12-31T23:59:59")
    assert bot.stored_rows() == 0


def test_nan_counts_as_missing_data_and_is_not_stored(bot: HookBot) -> None:
    body = {
        "runbook": "ranking-model",
        "samples": [
            {"metric": "ctr", "value": 0.4, "at": AT},
            {"metric": "ctr", "value": "NaN", "at": "2026-11-22T02:59:10Z"},
        ],
    }
    text = json.dumps(body).replace('"NaN"', "NaN")
    for sent in (json.dumps(body), text):  # Prometheus's spelling, and the JSON extension
        answer = bot.post("metrics", sent)
        assert answer.status_code == 202
        assert answer.get_json()["ignored"] == [
            "samples.1 (ctr at 2026-11-22T02:59:10+00:00): NaN counts as missing data; not stored"
        ]
    assert [s.value for s in bot.stored()] == [0.4]


def test_a_body_with_many_bad_samples_lists_the_first_hundred(bot: HookBot) -> None:
    body = {"runbook": "ranking-model", "samples": [{"metric": "ctr", "value": True, "at": AT}]}
    body["samples"] *= 1_000
    problems = bot.post("metrics", body).get_json()["problems"]
    assert len(problems) == 101 and problems[-1] == "... and 900 more"


def test_a_one_character_hook_token_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEBOT_HOOK_TOKEN", "x")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "RELEASEBOT_HOOK_TOKEN" in err and "too short: use at least 16" in err
    assert load_settings(hook_token="0123456789abcdef").hook_token is not None


def test_the_sample_retention_is_a_duration_of_an_hour_or_more(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_settings().sample_retention.days == 7
    monkeypatch.setenv("RELEASEBOT_SAMPLE_RETENTION", "36h")
    assert load_settings().sample_retention.total_seconds() == 36 * 3600
    monkeypatch.setenv("RELEASEBOT_SAMPLE_RETENTION", "5m")
    assert main(["check"]) == 2
    assert "RELEASEBOT_SAMPLE_RETENTION" in capsys.readouterr().err

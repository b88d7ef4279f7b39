"""What an Alertmanager notification means as evidence, through the real hook and store:
re-sends of one alert are one observation, so a count ``sustain`` needs that many distinct
values; a duration ``sustain`` runs from the alert's ``startsAt``; an alert re-sent unchanged
keeps the data fresh."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core.criteria import CriterionState
from bot.store import read_connection
from bot.store.criterion_states import current_evaluations
from tests.hooks.support import HookBot

BREACH = CriterionState.BREACH


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def notification(
    value: float, starts_at: datetime, *, metric: str = "error_rate", fingerprint: str = "f1"
) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RankingErrors"}',
        "status": "firing",
        "receiver": "releasebot",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "RankingErrors",
                    "runbook": "ranking-model",
                    "metric": metric,
                },
                "annotations": {"value": str(value)},
                "startsAt": iso(starts_at),
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }


def deliver(bot: HookBot, document: dict[str, Any], after: timedelta = timedelta(0)) -> str:
    bot.clock.now += after
    answer = bot.post("alertmanager", document)
    assert answer.status_code == 202, answer.get_json()
    decision: str = answer.get_json()["decision"]
    return decision


def state_of(bot: HookBot, metric: str) -> CriterionState:
    runbook = bot.runtime.registry.get("ranking-model")
    assert runbook is not None
    with read_connection(bot.runtime.engine) as connection:
        evaluations = current_evaluations(connection, runbook=runbook, now=bot.clock.now)
    return next(e.state for e in evaluations if e.metric == metric)


def test_re_sends_of_one_alert_never_meet_a_count_sustain(bot: HookBot) -> None:
    starts = bot.clock.now - timedelta(minutes=1)
    for _ in range(6):  # repeat_interval, retries, HA peers: the same alert, again and again
        assert "breach at" not in deliver(bot, notification(0.041, starts), timedelta(seconds=20))
    [sample] = bot.stored()
    assert sample.seen_until == bot.clock.now and sample.since == starts
    assert "breach at" not in deliver(bot, notification(0.05, starts), timedelta(seconds=20))
    for _ in range(3):
        assert "breach at" not in deliver(bot, notification(0.05, starts), timedelta(seconds=20))
    # the third distinct value is the third observation: the rule's 3 samples, not earlier
    decision = deliver(bot, notification(0.06, starts), timedelta(seconds=20))
    assert decision == "ranking-model: breach at severity high: recommend previous-model"
    assert [s.value for s in bot.stored()] == [0.041, 0.05, 0.06]


def test_a_duration_sustain_runs_from_the_alerts_start(bot: HookBot) -> None:
    starts = bot.clock.now - timedelta(minutes=2)  # p99 latency: beyond 325 ms for 5 minutes
    deliver(bot, notification(410, starts, metric="p99_latency_ms"))
    assert state_of(bot, "p99_latency_ms") is not BREACH  # firing for 2 minutes only
    deliver(bot, notification(410, starts, metric="p99_latency_ms"), timedelta(minutes=2))
    assert state_of(bot, "p99_latency_ms") is not BREACH  # 4 minutes
    decision = deliver(
        bot, notification(410, starts, metric="p99_latency_ms"), timedelta(minutes=1)
    )
    assert state_of(bot, "p99_latency_ms") is BREACH  # 5 minutes since startsAt
    assert "breach at severity medium" in decision
    assert len(bot.stored()) == 1


def test_an_alert_re_sent_unchanged_keeps_its_breach_fresh(bot: HookBot) -> None:
    starts = bot.clock.now
    for value in (0.03, 0.04, 0.05):
        deliver(bot, notification(value, starts), timedelta(seconds=30))
    assert state_of(bot, "error_rate") is BREACH
    for _ in range(6):  # stale_after is 10m; re-sent every 5 minutes for half an hour
        deliver(bot, notification(0.05, starts), timedelta(minutes=5))
        assert state_of(bot, "error_rate") is BREACH
    bot.clock.now += timedelta(minutes=11)  # then silence: the data goes stale
    assert state_of(bot, "error_rate") is CriterionState.INSUFFICIENT_DATA


def test_two_alerts_with_one_value_in_one_notification_are_two_observations(bot: HookBot) -> None:
    starts = bot.clock.now
    document = notification(0.03, starts)
    twin = {**document["alerts"][0], "fingerprint": "f2", "labels": {"pod": "b"}}
    twin["labels"].update(document["alerts"][0]["labels"])
    document["alerts"].append(twin)
    for _ in range(3):
        deliver(bot, document, timedelta(seconds=30))
    assert [s.value for s in bot.stored()] == [0.03, 0.03]
    assert state_of(bot, "error_rate") is not BREACH  # two alerts, seen 3 times: 2 samples

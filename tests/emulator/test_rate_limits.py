"""Slack's rate limits in the emulator: off by default; once on, per method tier and per
channel for ``chat.postMessage``, answered 429 with ``Retry-After``; all on a clock the test
moves, so nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import ManualClock, RateLimits, SlackEmulator, Tier
from bot.devtools.emulator.rate_limits import RateLimiter

RANKING, FRAUD = "C0RANKREL", "C0FRAUDREL"


@pytest.fixture
def limited(clock: ManualClock) -> Iterator[SlackEmulator]:
    """Slack's own limits, on a clock that stands still unless the test moves it."""
    with SlackEmulator(clock=clock, rate_limits=RateLimits()) as emulator:
        yield emulator


def post(client: WebClient, channel: str, text: str = "x") -> int:
    """Post and return the HTTP status (200, or 429 when limited)."""
    try:
        client.chat_postMessage(channel=channel, text=text)
    except SlackApiError as error:
        return int(error.response.status_code)
    return 200


def test_limits_are_off_by_default(slack: SlackEmulator, client: WebClient) -> None:
    assert [post(client, RANKING, str(i)) for i in range(30)] == [200] * 30
    assert len(slack.messages(RANKING)) == 30


def test_a_channel_takes_a_short_burst_then_one_message_a_second(
    limited: SlackEmulator, clock: ManualClock
) -> None:
    client = limited.client()
    assert [post(client, RANKING) for _ in range(4)] == [200, 200, 200, 429]
    limited_call = limited.calls("chat.postMessage")[-1]
    assert limited_call.status == 429
    assert limited_call.response == {"ok": False, "error": "ratelimited"}
    clock.advance(1)
    assert [post(client, RANKING) for _ in range(2)] == [200, 429]
    assert len(limited.messages(RANKING)) == 4


def test_the_429_says_when_to_retry(limited: SlackEmulator, clock: ManualClock) -> None:
    client = limited.client()
    for _ in range(3):
        post(client, RANKING)
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel=RANKING, text="too soon")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "1"
    assert error.value.response["error"] == "ratelimited"
    clock.advance(1)
    assert post(client, RANKING) == 200


def test_one_busy_channel_does_not_limit_another(limited: SlackEmulator) -> None:
    client = limited.client()
    assert [post(client, RANKING) for _ in range(4)][-1] == 429
    assert post(client, FRAUD) == 200
    assert post(client, "#fraud-releases") == 200  # the same channel, by name


def test_other_methods_are_limited_by_their_tier(
    limited: SlackEmulator, clock: ManualClock
) -> None:
    client = limited.client()
    assert all(client.users_list()["ok"] for _ in range(20))  # Tier 2: 20 a minute
    with pytest.raises(SlackApiError) as error:
        client.users_list()
    assert error.value.response.headers["Retry-After"] == "3"  # one call every 3 s
    assert client.users_info(user="U0ALICE")["ok"]  # Tier 4, a bucket of its own
    clock.advance(3)
    assert client.users_list()["ok"]


def test_limits_are_tuned_per_emulator(clock: ManualClock) -> None:
    tight = RateLimits(
        tiers={**RateLimits().tiers, 3: Tier(per_minute=6, burst=1)},
        post_message_per_second=0.5,
        post_message_burst=1,
    )
    with SlackEmulator(clock=clock, rate_limits=tight) as emulator:
        client = emulator.client()
        assert [post(client, RANKING) for _ in range(2)] == [200, 429]
        assert emulator.calls()[-1].status == 429
        posted = emulator.messages(RANKING)[0].ts
        client.chat_update(channel=RANKING, ts=posted, text="edited")
        with pytest.raises(SlackApiError) as error:
            client.chat_update(channel=RANKING, ts=posted, text="again")
        assert error.value.response.headers["Retry-After"] == "10"
        clock.advance(2)
        assert post(client, RANKING) == 200


def test_limits_can_be_switched_on_and_off_on_a_running_emulator(
    slack: SlackEmulator, client: WebClient
) -> None:
    slack.enable_rate_limits(RateLimits(post_message_burst=1))
    assert [post(client, RANKING) for _ in range(2)] == [200, 429]
    slack.disable_rate_limits()
    assert post(client, RANKING) == 200


def test_a_test_forces_a_429_on_one_channel_only(slack: SlackEmulator, client: WebClient) -> None:
    slack.rate_limit("chat.postMessage", retry_after=30, channel=RANKING)
    assert post(client, FRAUD) == 200
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="#ranking-releases", text="held")
    assert error.value.response.headers["Retry-After"] == "30"
    assert post(client, RANKING) == 200
    assert [c.status for c in slack.calls("chat.postMessage")] == [200, 429, 200]


def test_a_rate_limited_call_changes_nothing(limited: SlackEmulator) -> None:
    client = limited.client()
    for _ in range(3):
        post(client, RANKING)
    assert post(client, RANKING, "lost?") == 429
    assert "lost?" not in [m.text for m in limited.messages(RANKING)]


def test_a_bucket_refills_no_further_than_its_burst(clock: ManualClock) -> None:
    limiter = RateLimiter(RateLimits(), clock)
    assert limiter.admit("chat.postMessage", RANKING) is None
    clock.advance(3600)
    admitted = [limiter.admit("chat.postMessage", RANKING) for _ in range(4)]
    assert admitted == [None, None, None, 1]


def test_a_tier_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        Tier(per_minute=0, burst=1)
    with pytest.raises(ValueError):
        Tier(per_minute=10, burst=0)

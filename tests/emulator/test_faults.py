"""Injected faults, observed through slack_sdk's own retry handlers."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.devtools.emulator import SlackEmulator


def test_a_rate_limited_post_succeeds_after_one_retry(slack: SlackEmulator) -> None:
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    answer = client.chat_postMessage(channel="C0RANKREL", text="after the 429")
    assert answer["ok"] is True
    first, second = slack.calls("chat.postMessage")
    assert (first.status, first.response) == (429, {"ok": False, "error": "ratelimited"})
    assert second.status == 200
    assert [m.text for m in slack.messages("C0RANKREL")] == ["after the 429"]


def test_the_429_carries_retry_after(slack: SlackEmulator) -> None:
    slack.rate_limit("chat.update", retry_after=7)
    with pytest.raises(SlackApiError) as error:
        slack.client().chat_update(channel="C0RANKREL", ts="1.000100", text="x")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"
    assert error.value.response["error"] == "ratelimited"


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_retried_by_the_server_error_handler(
    slack: SlackEmulator, status: int
) -> None:
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[
            ServerErrorRetryHandler(
                max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )
    slack.server_error("chat.postMessage", times=2, status=status)
    assert client.chat_postMessage(channel="C0RANKREL", text="third time")["ok"] is True
    assert [call.status for call in slack.calls("chat.postMessage")] == [status, status, 200]


def test_a_slack_error_is_answered_once_then_calls_work(slack: SlackEmulator) -> None:
    client = slack.client()
    slack.slack_error("chat.postEphemeral", error="user_not_in_channel")
    with pytest.raises(SlackApiError) as error:
        client.chat_postEphemeral(channel="C0RANKREL", user="U0ALICE", text="x")
    assert error.value.response["error"] == "user_not_in_channel"
    assert client.chat_postEphemeral(channel="C0RANKREL", user="U0ALICE", text="x")["ok"]


def test_a_fault_for_any_method_hits_the_next_calls_whatever_they_are(
    slack: SlackEmulator,
) -> None:
    client = slack.client()
    slack.slack_error(None, error="fatal_error", times=2)
    for call in (client.auth_test, lambda: client.users_info(user="U0ALICE")):
        with pytest.raises(SlackApiError):
            call()
    assert client.auth_test()["ok"] is True
    assert [c.response["ok"] for c in slack.calls()] == [False, False, True]


def test_faults_for_other_methods_do_not_fire(slack: SlackEmulator) -> None:
    slack.rate_limit("views.open", times=3)
    assert slack.client().chat_postMessage(channel="C0RANKREL", text="fine")["ok"] is True
    slack.clear_faults()
    assert slack.state.faults == []

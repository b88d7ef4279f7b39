"""Late answers: the call takes effect at once, its answer comes after the client's timeout,
or never reaches a caller that is gone."""

from __future__ import annotations

import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import SlackEmulator


def test_a_post_answered_after_the_timeout_is_in_the_channel_once(slack: SlackEmulator) -> None:
    late = slack.answer_late("chat.postMessage", seconds=2)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=1)
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel="C0RANKREL", text="slow")
    assert late.applied.is_set()
    assert [m.text for m in slack.messages("C0RANKREL")] == ["slow"]
    # the next call is answered at once
    assert client.chat_postMessage(channel="C0RANKREL", text="fast")["ok"] is True
    assert [c.status for c in slack.calls("chat.postMessage")] == [200, 200]


def test_a_held_answer_waits_for_release_and_only_its_channel_is_held(
    slack: SlackEmulator,
) -> None:
    late = slack.answer_late("chat.postMessage", channel="C0FRAUDREL")
    client = slack.client()
    assert client.chat_postMessage(channel="C0RANKREL", text="not held")["ok"] is True
    assert not late.applied.is_set()
    answers: list[object] = []
    caller = threading.Thread(
        target=lambda: answers.append(client.chat_postMessage(channel="C0FRAUDREL", text="held"))
    )
    caller.start()
    assert late.applied.wait(5)
    assert [m.text for m in slack.messages("C0FRAUDREL")] == ["held"]
    assert answers == []
    late.release()
    caller.join(5)
    assert len(answers) == 1


def test_a_failed_call_is_not_held(slack: SlackEmulator) -> None:
    late = slack.answer_late("chat.postMessage", seconds=30)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0NOPE", text="x")
    assert refused.value.response["error"] == "channel_not_found"
    assert not late.applied.is_set() and late.remaining == 1

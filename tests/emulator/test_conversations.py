"""Message metadata, ``conversations.history`` and ``conversations.replies`` as Slack documents
them, seen through the bot's own slack_sdk WebClient."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import ManualClock, SlackEmulator

CHANNEL = "C0RANKREL"
JOB = {"event_type": "releasebot_outbox", "event_payload": {"job_id": 42, "kind": "post"}}


def post(client: WebClient, text: str, **fields: object) -> str:
    return str(client.chat_postMessage(channel=CHANNEL, text=text, **fields)["ts"])


def test_a_post_keeps_its_metadata_and_shows_it_in_its_answer(
    slack: SlackEmulator, client: WebClient
) -> None:
    answer = client.chat_postMessage(channel=CHANNEL, text="Rollback recommended", metadata=JOB)
    assert answer["message"]["metadata"] == JOB
    (message,) = slack.messages_with_metadata(CHANNEL, "releasebot_outbox")
    assert message.ts == answer["ts"] and message.metadata == JOB


def test_history_shows_metadata_only_when_asked_for_all_of_it(client: WebClient) -> None:
    post(client, "with metadata", metadata=JOB)
    post(client, "without")
    plain = client.conversations_history(channel=CHANNEL)["messages"]
    assert all("metadata" not in message for message in plain)
    full = client.conversations_history(channel=CHANNEL, include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in full] == [None, JOB]


def test_after_a_crash_the_bot_finds_its_job_in_the_thread_before_posting_again(
    slack: SlackEmulator, client: WebClient
) -> None:
    root = post(client, "Release ranking-model v2.4.0")
    for job_id in (7, 8):
        metadata = {"event_type": "releasebot_outbox", "event_payload": {"job_id": job_id}}
        post(client, f"reply {job_id}", thread_ts=root, metadata=metadata)
    thread = client.conversations_replies(channel=CHANNEL, ts=root, include_all_metadata=True)
    sent = [m["metadata"]["event_payload"]["job_id"] for m in thread["messages"][1:]]
    assert sent == [7, 8]


def test_chat_update_replaces_metadata_or_keeps_it(slack: SlackEmulator, client: WebClient) -> None:
    ts = post(client, "v1", metadata=JOB)
    client.chat_update(channel=CHANNEL, ts=ts, text="v2")
    assert slack.latest_message(CHANNEL).metadata == JOB
    newer = {"event_type": "releasebot_outbox", "event_payload": {"job_id": 43}}
    answer = client.chat_update(channel=CHANNEL, ts=ts, text="v3", metadata=newer)
    assert answer["message"]["metadata"] == newer
    message = slack.latest_message(CHANNEL)
    assert message.metadata == newer
    assert [version.metadata for version in message.edits] == [JOB, JOB]


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        '{"event_type": "x"',
        {"event_type": "x"},
        {"event_type": 3, "event_payload": {}},
        {"event_type": "x", "event_payload": "y"},
    ],
)
def test_metadata_that_is_not_slacks_shape_is_refused(
    slack: SlackEmulator, client: WebClient, metadata: object
) -> None:
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel=CHANNEL, text="x", metadata=metadata)
    assert error.value.response["error"] == "invalid_metadata_format"
    assert slack.messages(CHANNEL) == []


def test_an_event_type_with_a_period_is_a_warning_and_the_metadata_is_ignored(
    slack: SlackEmulator, client: WebClient
) -> None:
    odd = {"event_type": "releasebot.outbox", "event_payload": {"job_id": 1}}
    answer = client.chat_postMessage(channel=CHANNEL, text="posted anyway", metadata=odd)
    assert answer["ok"] is True
    assert answer["response_metadata"]["warnings"] == ["invalid_metadata_schema"]
    assert "metadata" not in answer["message"]
    assert slack.latest_message(CHANNEL).metadata is None


def test_metadata_as_a_json_string_in_a_form_post(slack: SlackEmulator) -> None:
    form = urllib.parse.urlencode({"channel": CHANNEL, "text": "x", "metadata": json.dumps(JOB)})
    request = urllib.request.Request(
        slack.api_url + "chat.postMessage",
        data=form.encode(),
        headers={"Authorization": f"Bearer {slack.bot_token}"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read())["message"]["metadata"] == JOB
    assert slack.calls("chat.postMessage")[0].args["metadata"] == JOB


def test_history_is_newest_first_without_replies_unless_broadcast(client: WebClient) -> None:
    root = post(client, "root")
    post(client, "quiet reply", thread_ts=root)
    post(client, "loud reply", thread_ts=root, reply_broadcast=True)
    post(client, "later")
    history = client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in history["messages"]] == ["later", "loud reply", "root"]
    assert history["has_more"] is False
    assert history["response_metadata"]["next_cursor"] == ""
    parent = history["messages"][2]
    assert (parent["reply_count"], parent["reply_users"]) == (2, ["U0RELEASEBOT"])
    assert parent["latest_reply"] == history["messages"][1]["ts"]


def test_oldest_latest_and_inclusive_bound_the_history(
    timed_slack: SlackEmulator, clock: ManualClock
) -> None:
    client = timed_slack.client()
    stamps = []
    for text in ("a", "b", "c", "d"):
        stamps.append(post(client, text))
        clock.advance(10)
    a, b, c, d = stamps

    def texts(**bounds: object) -> list[str]:
        found = client.conversations_history(channel=CHANNEL, **bounds)["messages"]
        return [m["text"] for m in found]

    assert texts(oldest=a, latest=d) == ["c", "b"]
    assert texts(oldest=a, latest=d, inclusive=True) == ["d", "c", "b", "a"]
    assert texts(oldest=c) == ["d"]
    assert texts(latest=b) == ["a"]
    assert texts(oldest=str(int(float(b)) - 1)) == ["d", "c", "b"]  # whole seconds work too
    answer = client.conversations_history(channel=CHANNEL, latest=c)
    assert answer["latest"] == c


def test_history_pages_with_cursors_until_nothing_is_left(client: WebClient) -> None:
    for i in range(7):
        post(client, str(i))
    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_history(channel=CHANNEL, limit=3, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert (seen, pages) == (["6", "5", "4", "3", "2", "1", "0"], 3)
    first = client.conversations_history(channel=CHANNEL, limit=1)
    decoded = base64.b64decode(first["response_metadata"]["next_cursor"]).decode()
    assert decoded == "next_ts:" + seen_ts(client, "5").replace(".", "")  # Slack's own format


def seen_ts(client: WebClient, text: str) -> str:
    messages = client.conversations_history(channel=CHANNEL)["messages"]
    return str(next(m["ts"] for m in messages if m["text"] == text))


def test_slack_sdks_own_pagination_walks_every_page(client: WebClient) -> None:
    for i in range(5):
        post(client, str(i))
    # the iterator reuses one response object: read each page as it comes
    sizes = [
        len(page["messages"]) for page in client.conversations_history(channel=CHANNEL, limit=2)
    ]
    assert sizes == [2, 2, 1]


def test_replies_page_through_a_thread_with_the_parent_first(client: WebClient) -> None:
    root = post(client, "root")
    for i in range(4):
        post(client, f"reply {i}", thread_ts=root)
    first = client.conversations_replies(channel=CHANNEL, ts=root, limit=3)
    assert [m["text"] for m in first["messages"]] == ["root", "reply 0", "reply 1"]
    assert first["has_more"] is True
    second = client.conversations_replies(
        channel=CHANNEL, ts=root, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in second["messages"]] == ["reply 2", "reply 3"]
    assert second["has_more"] is False
    assert {m["parent_user_id"] for m in second["messages"]} == {"U0RELEASEBOT"}


def test_replies_from_a_reply_ts_give_the_whole_thread_bounded_by_oldest(
    timed_slack: SlackEmulator, clock: ManualClock
) -> None:
    client = timed_slack.client()
    root = post(client, "root")
    clock.advance(5)
    early = post(client, "early", thread_ts=root)
    clock.advance(5)
    post(client, "late", thread_ts=root)
    thread = client.conversations_replies(channel=CHANNEL, ts=early, oldest=early)
    assert [m["text"] for m in thread["messages"]] == ["root", "late"]
    unthreaded = post(client, "alone")
    alone = client.conversations_replies(channel=CHANNEL, ts=unthreaded)["messages"]
    assert [m["text"] for m in alone] == ["alone"]


@pytest.mark.parametrize(
    ("method", "arguments", "error"),
    [
        ("conversations.history", {"channel": "C0NOPE"}, "channel_not_found"),
        ("conversations.replies", {"channel": "C0NOPE", "ts": "1.000100"}, "channel_not_found"),
        ("conversations.replies", {"channel": CHANNEL, "ts": "1.000100"}, "thread_not_found"),
        ("conversations.replies", {"channel": CHANNEL}, "thread_not_found"),
        ("conversations.history", {"channel": CHANNEL, "cursor": "bm9wZQ=="}, "invalid_cursor"),
        ("conversations.history", {"channel": CHANNEL, "cursor": "%%%"}, "invalid_cursor"),
        ("conversations.history", {"channel": CHANNEL, "oldest": "soon"}, "invalid_ts_oldest"),
        ("conversations.history", {"channel": CHANNEL, "latest": "-5"}, "invalid_ts_latest"),
        ("conversations.history", {"channel": CHANNEL, "limit": "ten"}, "invalid_limit"),
    ],
)
def test_bad_arguments_get_slacks_errors(
    client: WebClient, method: str, arguments: dict[str, str], error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call(method, params=arguments)
    assert raised.value.response["error"] == error


def test_deleted_messages_leave_history_and_threads(client: WebClient) -> None:
    root = post(client, "root")
    reply = post(client, "oops", thread_ts=root)
    client.chat_delete(channel=CHANNEL, ts=reply)
    thread = client.conversations_replies(channel=CHANNEL, ts=root)["messages"]
    assert [m["text"] for m in thread] == ["root"]
    assert "reply_count" not in thread[0]

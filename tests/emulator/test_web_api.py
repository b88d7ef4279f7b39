"""The Web API as the bot's own slack_sdk WebClient sees it."""

from __future__ import annotations

import json
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import SlackEmulator, WorkspaceSeed

GATE_BLOCKS = [
    {"type": "section", "block_id": "gate", "text": {"type": "mrkdwn", "text": "*Backtest*"}},
    {
        "type": "actions",
        "block_id": "gate_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "gate_pass",
                "text": {"type": "plain_text", "text": "Pass"},
            }
        ],
    },
]


def raw_post(slack: SlackEmulator, method: str, body: bytes, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(slack.api_url + method, data=body, headers=headers)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_auth_test_names_the_bot(slack: SlackEmulator, client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == slack.bot_user_id
    assert answer["bot_id"] == "B0RELEASEBOT"
    assert answer["team_id"] == "T0RELEASE"


def test_a_missing_or_unknown_token_is_refused_like_slack(slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.api_url).auth_test()
    assert missing.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as unknown:
        WebClient(token="xoxb-nope", base_url=slack.api_url).chat_postMessage(
            channel="C0RANKREL", text="hi"
        )
    assert unknown.value.response["error"] == "invalid_auth"
    assert slack.messages("C0RANKREL") == []


def test_post_message_with_blocks_returns_ts_and_message(
    slack: SlackEmulator, client: WebClient
) -> None:
    answer = client.chat_postMessage(channel="C0RANKREL", text="Backtest", blocks=GATE_BLOCKS)
    assert answer["channel"] == "C0RANKREL"
    assert answer["message"]["blocks"] == GATE_BLOCKS
    assert answer["message"]["bot_id"] == "B0RELEASEBOT"
    assert slack.latest_message("C0RANKREL").ts == answer["ts"]


def test_blocks_sent_as_a_json_string_in_a_form_post_are_decoded(slack: SlackEmulator) -> None:
    form = "channel=C0RANKREL&text=x&blocks=" + urllib.request.quote(json.dumps(GATE_BLOCKS))
    answer = raw_post(
        slack,
        "chat.postMessage",
        form.encode(),
        {"Authorization": f"Bearer {slack.bot_token}"},
    )
    assert answer["ok"] is True
    assert slack.latest_message("C0RANKREL").blocks == GATE_BLOCKS
    assert slack.calls("chat.postMessage")[0].args["blocks"] == GATE_BLOCKS


def test_json_body_and_token_in_form_field_both_work(slack: SlackEmulator) -> None:
    answer = raw_post(
        slack,
        "chat.postMessage",
        json.dumps({"channel": "C0FRAUDREL", "text": "json"}).encode(),
        {"Authorization": f"Bearer {slack.bot_token}", "Content-Type": "application/json"},
    )
    assert answer["ok"] is True
    form_answer = raw_post(slack, "auth.test", f"token={slack.bot_token}".encode(), {})
    assert form_answer["user_id"] == slack.bot_user_id


def test_timestamps_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C0RANKREL", text=str(i))["ts"] for i in range(20)]
    assert len(set(stamps)) == 20
    assert stamps == sorted(stamps, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_update_keeps_the_history_of_versions(slack: SlackEmulator, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0RANKREL", text="v1")
    client.chat_update(channel="C0RANKREL", ts=posted["ts"], text="v2")
    updated = client.chat_update(channel="C0RANKREL", ts=posted["ts"], text="v3", blocks=[])
    message = slack.latest_message("C0RANKREL")
    assert updated["message"]["edited"]["ts"] == message.edited_ts
    assert message.text == "v3"
    assert [version.text for version in message.edits] == ["v1", "v2"]


def test_update_of_an_unknown_message_is_a_slack_error(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.chat_update(channel="C0RANKREL", ts="1.000100", text="x")
    assert error.value.response["error"] == "message_not_found"


def test_thread_replies_and_conversations_replies(slack: SlackEmulator, client: WebClient) -> None:
    root = client.chat_postMessage(channel="C0RANKREL", text="root")
    first = client.chat_postMessage(channel="C0RANKREL", text="one", thread_ts=root["ts"])
    # A reply to a reply lands in the same thread, as in Slack.
    client.chat_postMessage(channel="C0RANKREL", text="two", thread_ts=first["ts"])
    replies = client.conversations_replies(channel="C0RANKREL", ts=root["ts"])["messages"]
    assert [m["text"] for m in replies] == ["root", "one", "two"]
    assert {m["thread_ts"] for m in replies} == {root["ts"]}
    assert replies[0]["reply_count"] == 2
    assert [m.text for m in slack.messages("C0RANKREL", replies=False)] == ["root"]


def test_reply_broadcast_is_recorded(slack: SlackEmulator, client: WebClient) -> None:
    root = client.chat_postMessage(channel="C0RANKREL", text="root")
    client.chat_postMessage(
        channel="C0RANKREL", text="also here", thread_ts=root["ts"], reply_broadcast=True
    )
    assert slack.latest_message("C0RANKREL").reply_broadcast is True


def test_ephemeral_messages_are_kept_per_user(slack: SlackEmulator, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C0RANKREL", user="U0BRUNO", text="only you")
    assert answer["message_ts"]
    (ephemeral,) = slack.ephemerals(user="U0BRUNO")
    assert ephemeral.text == "only you" and ephemeral.channel == "C0RANKREL"
    assert slack.ephemerals(user="U0ALICE") == []
    assert slack.messages("C0RANKREL") == []


def test_permalinks_for_a_message_and_a_thread_reply(client: WebClient) -> None:
    root = client.chat_postMessage(channel="C0RANKREL", text="root")
    reply = client.chat_postMessage(channel="C0RANKREL", text="reply", thread_ts=root["ts"])
    link = client.chat_getPermalink(channel="C0RANKREL", message_ts=root["ts"])["permalink"]
    assert link == f"https://acme-ml.slack.com/archives/C0RANKREL/p{root['ts'].replace('.', '')}"
    reply_link = client.chat_getPermalink(channel="C0RANKREL", message_ts=reply["ts"])
    assert reply_link["permalink"].endswith(
        f"/p{reply['ts'].replace('.', '')}?thread_ts={root['ts']}&cid=C0RANKREL"
    )


def test_users_groups_and_channels_come_from_the_seed(client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="S0ONCALL")["users"] == ["U0BRUNO", "U0DMITRI"]
    assert client.users_info(user="U0ALICE")["user"]["real_name"] == "Alice Moreau"
    assert client.conversations_info(channel="C0FRAUDREL")["channel"]["name"] == "fraud-releases"
    with pytest.raises(SlackApiError) as error:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert error.value.response["error"] == "no_such_subteam"


def test_a_custom_seed(client: WebClient) -> None:
    seed = (
        WorkspaceSeed()
        .workspace("T0OTHER", "other-co")
        .user("U0ZOE", "zoe", "Zoe Example")
        .group("S0SRE", "sre", ["U0ZOE"])
        .channel("C0OPS", "ops")
    )
    with SlackEmulator(seed) as other:
        other_client = other.client()
        assert other_client.usergroups_users_list(usergroup="S0SRE")["users"] == ["U0ZOE"]
        posted = other_client.chat_postMessage(channel="#ops", text="hi")
        assert posted["channel"] == "C0OPS"
        link = other_client.chat_getPermalink(channel="C0OPS", message_ts=posted["ts"])
        assert link["permalink"].startswith("https://other-co.slack.com/archives/C0OPS/p")


def test_views_publish_keeps_one_home_per_user(slack: SlackEmulator, client: WebClient) -> None:
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "1"}}],
    }
    first = client.views_publish(user_id="U0ALICE", view=home)["view"]
    second = client.views_publish(user_id="U0ALICE", view={**home, "blocks": []})["view"]
    assert first["id"] == second["id"]
    assert slack.home_view("U0ALICE").view["blocks"] == []
    assert len(slack.home_view("U0ALICE").history) == 1


def test_views_open_needs_a_trigger_issued_to_someone(
    slack: SlackEmulator, client: WebClient
) -> None:
    modal = {
        "type": "modal",
        "callback_id": "reason",
        "title": {"type": "plain_text", "text": "Why"},
    }
    with pytest.raises(SlackApiError) as error:
        client.views_open(trigger_id="123.456.abc", view=modal)
    assert error.value.response["error"] == "invalid_trigger_id"
    opened = client.views_open(trigger_id=slack.state.issue_trigger("U0BRUNO"), view=modal)
    view_id = opened["view"]["id"]
    updated = client.views_update(view_id=view_id, view={**modal, "blocks": []})
    assert updated["view"]["id"] == view_id
    (view,) = slack.views(user="U0BRUNO")
    assert view.view["callback_id"] == "reason" and len(view.history) == 1


def test_unknown_methods_are_answered_like_slack(slack: SlackEmulator, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.api_call("chat.teleport", json={"channel": "C0RANKREL"})
    assert error.value.response["error"] == "unknown_method"
    assert slack.calls("chat.teleport")[0].response == {"ok": False, "error": "unknown_method"}


def test_the_call_log_holds_arguments_and_answers(slack: SlackEmulator, client: WebClient) -> None:
    client.chat_postMessage(channel="C0RANKREL", text="hello")
    client.users_info(user="U0ALICE")
    assert [call.method for call in slack.calls()] == ["chat.postMessage", "users.info"]
    (post,) = slack.calls("chat.postMessage")
    assert post.args == {"channel": "C0RANKREL", "text": "hello"}
    assert post.response["ok"] is True and post.status == 200
    assert post.token == slack.bot_token


def test_a_direct_message_to_a_person(slack: SlackEmulator, client: WebClient) -> None:
    dm = client.conversations_open(users="U0FARAH")["channel"]["id"]
    posted = client.chat_postMessage(channel=dm, text="please endorse")
    assert posted["channel"] == dm == "D0FARAH"
    assert slack.latest_message(dm).text == "please endorse"


def test_waiting_for_a_call_that_never_comes_times_out(slack: SlackEmulator) -> None:
    with pytest.raises(TimeoutError):
        slack.wait_for_calls("chat.postMessage", timeout=0.2)

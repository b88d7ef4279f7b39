"""The driver plays Slack towards a bot: signed requests shaped like Slack's."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebhookClient

from bot.devtools.emulator import SlackDriver, SlackEmulator, sign

if TYPE_CHECKING:
    from tests.emulator.conftest import FakeBot


def gate_buttons(gate_id: str) -> dict:
    def button(label: str, action_id: str) -> dict:
        text = {"type": "plain_text", "text": label}
        value = json.dumps({"review_id": "r1", "gate_id": gate_id})
        return {"type": "button", "action_id": action_id, "text": text, "value": value}

    return {
        "type": "actions",
        "block_id": f"gate_actions:{gate_id}",
        "elements": [button("Pass", "gate_pass"), button("Fail", "gate_fail")],
    }


@pytest.fixture
def driver(slack: SlackEmulator, fake_bot: FakeBot, signing_secret: str) -> SlackDriver:
    return slack.driver(fake_bot.url, signing_secret)


def interaction(fake_bot: FakeBot) -> dict:
    (payload,) = parse_qs(fake_bot.received[-1].body)["payload"]
    return json.loads(payload)


def test_signatures_verify_with_slack_sdk(driver: SlackDriver, fake_bot: FakeBot) -> None:
    delivery = driver.url_verification(challenge="abc")
    assert delivery.status == 200
    assert fake_bot.received[0].signature_valid is True
    assert json.loads(fake_bot.received[0].body)["challenge"] == "abc"


def test_a_forged_signature_does_not_verify(driver: SlackDriver, fake_bot: FakeBot) -> None:
    delivery = driver.url_verification(secret="not-the-secret")
    assert delivery.status == 401
    assert fake_bot.received[0].signature_valid is False


def test_a_stale_timestamp_does_not_verify(driver: SlackDriver, fake_bot: FakeBot) -> None:
    driver.url_verification(age=600)
    driver.url_verification(timestamp=int(time.time()) - 601)
    assert [r.signature_valid for r in fake_bot.received] == [False, False]


def test_sign_is_slacks_v0_scheme() -> None:
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, "token=x").startswith("v0=")
    assert len(sign("s", 1, "")) == len("v0=") + 64


def test_redelivery_resends_the_same_body_with_retry_headers(
    driver: SlackDriver, fake_bot: FakeBot
) -> None:
    first = driver.message("U0ALICE", "C0RANKREL", "is anyone on it?")
    again = driver.redeliver(first, retry_num=1, retry_reason="http_timeout")
    original, retried = fake_bot.received
    assert retried.body == original.body and retried.signature_valid
    assert retried.headers["X-Slack-Retry-Num"] == "1"
    assert retried.headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert "X-Slack-Retry-Num" not in original.headers
    assert again.payload["event_id"] == first.payload["event_id"]


def test_slash_command_is_a_form_with_a_response_url_back_to_the_emulator(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    driver.slash_command("U0ALICE", "C0RANKREL", "/release", "start ranking-model v2.4.0")
    received = fake_bot.received[0]
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {key: values[0] for key, values in parse_qs(received.body).items()}
    assert form["command"] == "/release" and form["text"] == "start ranking-model v2.4.0"
    assert form["user_id"] == "U0ALICE" and form["user_name"] == "alice"
    assert form["channel_name"] == "ranking-releases" and form["trigger_id"]
    assert form["response_url"].startswith(slack.url + "/response_url/")

    webhook = WebhookClient(form["response_url"])
    assert webhook.send(text="Only you see this").status_code == 200
    assert webhook.send(text="Everyone sees this", response_type="in_channel").status_code == 200
    (ephemeral,) = slack.ephemerals(user="U0ALICE")
    assert ephemeral.text == "Only you see this"
    assert slack.latest_message("C0RANKREL").text == "Everyone sees this"
    assert [r.response_type for r in slack.responses()] == ["ephemeral", "in_channel"]


def test_click_finds_the_button_by_label_and_gate(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    client = slack.client()
    posted = client.chat_postMessage(
        channel="C0RANKREL",
        text="checklist",
        blocks=[gate_buttons("backtest"), gate_buttons("bias")],
    )
    client.chat_postMessage(channel="C0FRAUDREL", text="elsewhere", blocks=[gate_buttons("x")])
    driver.click("U0CHIARA", "C0RANKREL", "Fail", match="bias")
    payload = interaction(fake_bot)
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0CHIARA" and payload["user"]["name"] == "chiara"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0RANKREL",
        "is_ephemeral": False,
    }
    (action,) = payload["actions"]
    assert action["action_id"] == "gate_fail" and action["block_id"] == "gate_actions:bias"
    assert json.loads(action["value"])["gate_id"] == "bias"
    assert action["text"]["text"] == "Fail"
    assert payload["message"]["blocks"] == slack.latest_message("C0RANKREL").blocks
    assert payload["channel"] == {"id": "C0RANKREL", "name": "ranking-releases"}
    assert payload["trigger_id"] and payload["response_url"].startswith(slack.url)


def test_click_in_a_thread_reply_and_replace_original(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    client = slack.client()
    root = client.chat_postMessage(channel="C0RANKREL", text="root")
    reply = client.chat_postMessage(
        channel="C0RANKREL", text="approve?", thread_ts=root["ts"], blocks=[gate_buttons("go")]
    )
    driver.click("U0BRUNO", "C0RANKREL", "Pass")
    payload = interaction(fake_bot)
    assert payload["container"]["message_ts"] == reply["ts"]
    assert payload["container"]["thread_ts"] == root["ts"]
    WebhookClient(payload["response_url"]).send(text="Passed by bruno", replace_original=True)
    replaced = slack.state.find_message("C0RANKREL", reply["ts"])
    assert replaced.text == "Passed by bruno" and replaced.edited_ts and replaced.blocks == []


def test_click_on_a_missing_label_says_what_it_saw(
    slack: SlackEmulator, driver: SlackDriver
) -> None:
    slack.client().chat_postMessage(channel="C0RANKREL", text="x", blocks=[gate_buttons("go")])
    with pytest.raises(LookupError, match="'Pass'"):
        driver.click("U0BRUNO", "C0RANKREL", "Endorse")


def test_submit_view_fills_the_inputs_and_closes_on_an_empty_answer(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    modal = {
        "type": "modal",
        "callback_id": "reason_modal",
        "private_metadata": "gate=bias",
        "title": {"type": "plain_text", "text": "Why?"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "reason_input"},
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [
                        {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
                        {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
                    ],
                },
            },
        ],
    }
    slack.client().views_open(trigger_id=slack.state.issue_trigger("U0CHIARA"), view=modal)
    driver.submit_view("U0CHIARA", {"reason": "audit pending", "severity/pick": "High"})
    payload = interaction(fake_bot)
    assert payload["type"] == "view_submission"
    assert payload["view"]["callback_id"] == "reason_modal"
    assert payload["view"]["private_metadata"] == "gate=bias"
    values = payload["view"]["state"]["values"]
    assert values["reason"]["reason_input"] == {
        "type": "plain_text_input",
        "value": "audit pending",
    }
    assert values["severity"]["pick"]["selected_option"]["value"] == "high"
    assert slack.views("U0CHIARA")[0].closed is True
    with pytest.raises(LookupError):
        driver.submit_view("U0CHIARA", {})


def test_a_view_answered_with_errors_stays_open(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Why?"}, "blocks": []}
    slack.client().views_open(trigger_id=slack.state.issue_trigger("U0ALICE"), view=modal)
    fake_bot.answer_body = json.dumps({"response_action": "errors", "errors": {"r": "why?"}})
    delivery = driver.submit_view("U0ALICE")
    assert delivery.json["response_action"] == "errors"
    assert slack.views("U0ALICE")[0].closed is False
    with pytest.raises(KeyError):
        driver.submit_view("U0ALICE", {"no_such_block": "x"})


def test_a_person_message_is_stored_and_sent_as_an_event(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    delivery = driver.message("U0ALICE", "C0RANKREL", "ranking-model v2.4.0 to canary")
    body = json.loads(fake_bot.received[0].body)
    assert fake_bot.received[0].headers["Content-Type"] == "application/json"
    assert body["type"] == "event_callback" and body["event_id"].startswith("Ev")
    event = body["event"]
    assert event["type"] == "message" and event["channel_type"] == "channel"
    assert event["user"] == "U0ALICE" and event["ts"] == delivery.message.ts
    assert body["authorizations"][0]["user_id"] == slack.bot_user_id
    assert slack.latest_message("C0RANKREL").text == "ranking-model v2.4.0 to canary"


def test_a_thread_reply_event_names_its_parent(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    root = slack.client().chat_postMessage(channel="C0RANKREL", text="rollback?")
    first = driver.message("U0BRUNO", "C0RANKREL", "looking now", thread_ts=root["ts"])
    second = driver.message("U0ALICE", "C0RANKREL", "me too", thread_ts=root["ts"])
    event = json.loads(fake_bot.received[0].body)["event"]
    assert event["thread_ts"] == root["ts"] and event["parent_user_id"] == slack.bot_user_id
    assert first.payload["event_id"] != second.payload["event_id"]
    assert [m.text for m in slack.thread("C0RANKREL", root["ts"])][1:] == ["looking now", "me too"]


def test_a_message_from_another_app_carries_its_bot_id(
    driver: SlackDriver, fake_bot: FakeBot
) -> None:
    driver.message("U0DEPLOYBOT", "C0RANKREL", "ranking-model v2.4.0 to canary")
    event = json.loads(fake_bot.received[0].body)["event"]
    assert event["bot_id"] == "B0DEPLOYBOT" and "client_msg_id" not in event


def test_app_mention_and_app_home_opened(
    slack: SlackEmulator, driver: SlackDriver, fake_bot: FakeBot
) -> None:
    driver.app_mention("U0ELENA", "C0RANKREL", "status")
    mention = json.loads(fake_bot.received[0].body)["event"]
    assert mention["type"] == "app_mention"
    assert mention["text"] == f"<@{slack.bot_user_id}> status"
    home = {"type": "home", "blocks": []}
    slack.client().views_publish(user_id="U0ELENA", view=home)
    driver.app_home_opened("U0ELENA")
    opened = json.loads(fake_bot.received[1].body)["event"]
    assert opened["type"] == "app_home_opened" and opened["tab"] == "home"
    assert opened["view"]["id"] == slack.home_view("U0ELENA").id

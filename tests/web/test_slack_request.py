"""``SlackRequest`` parses Slack's bodies exactly as Bolt's own ``BoltRequest`` does."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus, urlencode

from hypothesis import example, given
from hypothesis import strategies as st
from slack_bolt.request import BoltRequest

from bot.web.slack_request import SlackRequest, parse_slack_body, unquote_plus_fast

FORM = "application/x-www-form-urlencoded"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def click_payload(text: str) -> dict[str, object]:
    return {
        "type": "block_actions",
        "user": {"id": "U0JULIA", "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "acme"},
        "channel": {"id": "C0RELEASES", "name": "releases"},
        "container": {"type": "message", "message_ts": "1.000100", "channel_id": "C0RELEASES"},
        "message": {"ts": "1.000100", "thread_ts": "1.000001", "text": text, "blocks": []},
        "response_url": "http://127.0.0.1:1/actions/T0001/1/abc?x=1&y=%2",
        "actions": [{"action_id": "approval_approve", "value": "42", "type": "button"}],
    }


def both(body: str, content_type: str = FORM) -> tuple[BoltRequest, SlackRequest]:
    headers = {"content-type": content_type, "x-slack-signature": "v0=00"}
    return (
        BoltRequest(body=body, headers=headers),  # type: ignore[arg-type]
        SlackRequest(body=body, headers=headers),  # type: ignore[arg-type]
    )


@given(st.text())
@example("Approve ✅ “go” 100% + more\\n \\x41 %41 &amp; <@U1>")
def test_a_click_body_parses_as_bolt_parses_it(text: str) -> None:
    body = urlencode({"payload": json.dumps(click_payload(text))})
    bolt, ours = both(body)
    assert ours.body == bolt.body
    assert dict(ours.context) == dict(bolt.context)
    assert ours.raw_body == bolt.raw_body == body
    assert ours.content_type == bolt.content_type
    assert ours.headers == bolt.headers


@given(JSON_VALUES)
def test_any_json_payload_round_trips(value: object) -> None:
    body = urlencode({"payload": json.dumps({"value": value}, ensure_ascii=False)})
    assert parse_slack_body(body, FORM) == {"value": value}


@given(st.text(alphabet="%+&=\\abcdefABCDEF0123456789xyz é"))
def test_the_fast_decoder_agrees_with_urllib_or_declines(value: str) -> None:
    fast = unquote_plus_fast(value)
    assert fast is None or fast == unquote_plus(value)


def test_malformed_or_unusual_values_are_left_to_urllib() -> None:
    for value in ("100%", "%zz", "%4", "a\\nb", "é", "%ff%fe", "%C3"):
        assert unquote_plus_fast(value) is None
    assert unquote_plus_fast("%E2%9C%85+ok%2B") == "✅ ok+"


def test_other_bodies_are_parsed_by_bolt() -> None:
    slash = urlencode({"command": "/release", "text": "start fraud-model 7.1", "user_id": "U1"})
    assert both(slash)[1].body == both(slash)[0].body == parse_slack_body(slash, FORM)
    event = json.dumps({"type": "event_callback", "team_id": "T1", "event": {"type": "x"}})
    bolt, ours = both(event, "application/json")
    assert ours.body == bolt.body and dict(ours.context) == dict(bolt.context)
    two_fields = "payload=%7B%7D&extra=1"
    assert parse_slack_body(two_fields, FORM) == {}
    assert parse_slack_body("", FORM) == {}


def test_the_copy_for_lazy_listeners_is_a_plain_bolt_request() -> None:
    body = urlencode({"payload": json.dumps(click_payload("hi"))})
    copy = both(body)[1].to_copyable()
    assert type(copy) is BoltRequest
    assert copy.body == json.loads(json.dumps(click_payload("hi")))

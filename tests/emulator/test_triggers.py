"""A ``trigger_id`` opens one modal, within 3 seconds of the interaction (Slack's rule),
checked on a clock the test moves instead of sleeping."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import ManualClock, SlackDriver, SlackEmulator
from tests.emulator.conftest import FakeBot

MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Why?"}, "blocks": []}
BUTTON_BLOCKS = [
    {
        "type": "actions",
        "block_id": "gate",
        "elements": [
            {
                "type": "button",
                "action_id": "gate_fail",
                "text": {"type": "plain_text", "text": "Fail"},
                "value": "gate:1",
            }
        ],
    }
]


def open_error(slack: SlackEmulator, trigger_id: str) -> str | None:
    """The error ``views.open`` answers, or None if the modal opened."""
    try:
        slack.client().views_open(trigger_id=trigger_id, view=MODAL)
    except SlackApiError as error:
        return str(error.response["error"])
    return None


def test_a_trigger_opens_a_modal_within_three_seconds(
    timed_slack: SlackEmulator, clock: ManualClock
) -> None:
    trigger = timed_slack.state.issue_trigger("U0BRUNO")
    clock.advance(3)
    assert open_error(timed_slack, trigger) is None
    assert [view.user for view in timed_slack.views()] == ["U0BRUNO"]


def test_a_trigger_used_after_three_seconds_has_expired(
    timed_slack: SlackEmulator, clock: ManualClock
) -> None:
    trigger = timed_slack.state.issue_trigger("U0BRUNO")
    clock.advance(3.001)
    assert open_error(timed_slack, trigger) == "expired_trigger_id"
    assert timed_slack.views() == []


def test_a_trigger_opens_one_modal_only(timed_slack: SlackEmulator) -> None:
    trigger = timed_slack.state.issue_trigger("U0BRUNO")
    assert open_error(timed_slack, trigger) is None
    assert open_error(timed_slack, trigger) == "exchanged_trigger_id"
    assert open_error(timed_slack, "123.456.abc") == "invalid_trigger_id"


def test_the_trigger_of_a_click_expires_too(
    timed_slack: SlackEmulator, clock: ManualClock, fake_bot: FakeBot, signing_secret: str
) -> None:
    """A reason form queued behind other work (issue 17) can no longer open."""
    timed_slack.client().chat_postMessage(channel="C0RANKREL", text="gate", blocks=BUTTON_BLOCKS)
    driver: SlackDriver = timed_slack.driver(fake_bot.url, signing_secret)
    click = driver.click("U0CHIARA", "C0RANKREL", "Fail")
    clock.advance(20)
    assert open_error(timed_slack, click.payload["trigger_id"]) == "expired_trigger_id"


def test_expiry_can_be_switched_off(clock: ManualClock) -> None:
    with SlackEmulator(clock=clock, trigger_ttl=None) as patient:
        trigger = patient.state.issue_trigger("U0BRUNO")
        clock.advance(3600)
        assert open_error(patient, trigger) is None


def test_a_manual_clock_only_moves_forward(clock: ManualClock) -> None:
    start = clock()
    assert clock.advance(2.5) == start + 2.5 == clock()
    with pytest.raises(ValueError):
        clock.advance(-1)

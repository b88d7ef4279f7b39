"""The transcript: a channel as a person reads it in Slack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.devtools.emulator import SlackEmulator, mrkdwn_to_plain

START = 1732270000.0  # 2024-11-22 10:06:40 UTC


@pytest.fixture
def frozen_slack() -> Iterator[SlackEmulator]:
    """An emulator whose clock stands still: timestamps still increase, by 100 microseconds."""
    with SlackEmulator(clock=lambda: START) as emulator:
        yield emulator


def test_timestamps_with_a_fixed_clock_look_like_slacks(frozen_slack: SlackEmulator) -> None:
    client = frozen_slack.client()
    first = client.chat_postMessage(channel="C0RANKREL", text="a")["ts"]
    second = client.chat_postMessage(channel="C0RANKREL", text="b")["ts"]
    assert (first, second) == ("1732270000.000000", "1732270000.000100")


def test_mrkdwn_entities_become_names_labels_and_characters(slack: SlackEmulator) -> None:
    text = (
        "*Approve* <@U0ALICE> and <!subteam^S0ONCALL|@oncall> in <#C0RANKREL>: "
        "<https://grafana.example/d/1|dashboard> or <https://x.example> "
        "_soon_ &lt;b&gt; &amp; <!date^1732270000^{time}|10:06 UTC> <!here> error_rate"
    )
    assert mrkdwn_to_plain(text, slack.state) == (
        "Approve @alice and @oncall in #ranking-releases: "
        "dashboard (https://grafana.example/d/1) or https://x.example "
        "soon <b> & 10:06 UTC @here error_rate"
    )


def test_a_thread_with_an_edited_message_reads_like_slack(frozen_slack: SlackEmulator) -> None:
    client = frozen_slack.client()
    checklist = [
        {"type": "header", "text": {"type": "plain_text", "text": "🚦 Readiness: ranking v2.4.0"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "⏳ *Bias audit*\nOwner: *ml_lead* (<@U0CHIARA>)"},
            "fields": [{"type": "mrkdwn", "text": "*Asked by*\n<@U0ALICE>"}],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": a, "text": {"type": "plain_text", "text": a}}
                for a in ("Pass", "Fail", "Waive")
            ],
        },
        {"type": "divider"},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Review `r-17` · <!subteam^S0ONCALL>"}],
        },
    ]
    root = client.chat_postMessage(channel="C0RANKREL", text="checklist", blocks=checklist)
    frozen_slack.state.add_message("C0RANKREL", "U0BRUNO", "on it", thread_ts=root["ts"])
    update = client.chat_postMessage(
        channel="C0RANKREL", text="Bias audit: open", thread_ts=root["ts"]
    )
    client.chat_update(
        channel="C0RANKREL", ts=update["ts"], text="✅ <@U0CHIARA> passed *Bias audit* &lt;ok&gt;"
    )
    client.chat_postEphemeral(channel="C0RANKREL", user="U0BRUNO", text="You are not ml_lead")

    assert frozen_slack.transcript("C0RANKREL") == (
        "#ranking-releases\n"
        "10:06 releasebot [APP]\n"
        "    🚦 Readiness: ranking v2.4.0\n"
        "    ⏳ Bias audit\n"
        "    Owner: ml_lead (@chiara)\n"
        "    Asked by: @alice\n"
        "    [ Pass ] [ Fail ] [ Waive ]\n"
        "    ────────────\n"
        "    Review `r-17` · @oncall\n"
        "  ↳ 10:06 bruno: on it\n"
        "  ↳ 10:06 releasebot [APP]: ✅ @chiara passed Bias audit <ok> (edited)\n"
    )
    with_ephemeral = frozen_slack.transcript("C0RANKREL", include_ephemeral=True)
    assert with_ephemeral.endswith(
        "10:06 releasebot [APP]: You are not ml_lead (only visible to you: @bruno)\n"
    )


def test_deleted_messages_disappear(
    slack: SlackEmulator,
) -> None:
    client = slack.client()
    gone = client.chat_postMessage(channel="C0FRAUDREL", text="oops")
    client.chat_postMessage(channel="C0FRAUDREL", text="kept")
    client.chat_delete(channel="C0FRAUDREL", ts=gone["ts"])
    assert "oops" not in slack.transcript("C0FRAUDREL")
    assert "kept" in slack.transcript("#fraud-releases")

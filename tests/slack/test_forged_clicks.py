"""A click is trusted to name what its message carries, and nothing else.

A signed click whose button value names another runbook's request, or a request posted in
another message, is refused (400, and the person told privately), counted nowhere, and the
attempt is kept in the trail of what it named. Driven as Slack drives it: signed HTTP to
``/slack/events``, the bot's messages in the emulator.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.devtools.emulator.driver import Button
from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import post, samples
from tests.slack.support import FRAUD, RANKING, Bot, click_button

FRAUD_RELEASE = "release:fraud-model:7.1"
FRAUD_GATES = [
    ("backtest", "U0HANNA"),
    ("model-risk-review", "U0FARAH"),
    ("shadow-agreement", "U0HANNA"),
    ("compliance-signoff", "U0JULIA"),  # through the @compliance user group
]


def value_of(button: Button) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(button.element["value"])
    return value


def fraud_go_no_go(bot: Bot) -> Button:
    answer = bot.driver.slash_command("U0FARAH", FRAUD, "/release", "start fraud-model 7.1")
    assert answer.status == 200
    bot.sandbox.settle()
    for gate, user in FRAUD_GATES:
        assert bot.driver.click(user, FRAUD, "Pass", match=gate).status == 200
    bot.sandbox.settle()
    return bot.driver.find_button(FRAUD, "Approve")


def test_a_button_value_naming_another_runbooks_request_is_refused_and_not_counted(
    bot: Bot,
) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    ranking_approve = bot.driver.find_button(RANKING, "Approve")
    fraud_approve = fraud_go_no_go(bot)
    fraud_request = value_of(fraud_approve)
    assert fraud_request != value_of(ranking_approve)

    # Gustav may approve the fraud-model go/no-go, but not from the ranking-model's message
    answer = click_button(bot, "U0GUSTAV", ranking_approve, value=json.dumps(fraud_request))
    assert answer.status == 400, answer.body
    assert "does not carry" in answer.json["error"]
    bot.sandbox.settle()
    assert "approval.approve" not in bot.trail_kinds(FRAUD_RELEASE)
    refused = [e for e in bot.trail(FRAUD_RELEASE) if e.kind == "approval.refused"]
    assert len(refused) == 1
    assert refused[0].actor == "U0GUSTAV"
    assert refused[0].payload["why"] == "another_channel"
    assert refused[0].payload["clicked_channel"] == RANKING
    assert refused[0].payload["clicked_message"] == ranking_approve.message.ts
    assert any("does not belong" in text for text in bot.ephemerals("U0GUSTAV"))
    assert "approval.refused" not in bot.trail_kinds()  # the ranking request: untouched

    # a forged Reject is refused before any reason form opens
    answer = click_button(
        bot, "U0GUSTAV", ranking_approve, action_id="approval_reject",
        value=json.dumps(fraud_request),
    )  # fmt: skip
    assert answer.status == 400
    bot.sandbox.settle()
    refused = [e for e in bot.trail(FRAUD_RELEASE) if e.kind == "approval.refused"]
    assert [e.payload["decision"] for e in refused] == ["approve", "reject"]

    # and from its own message, the same person's vote counts
    assert bot.driver.click("U0GUSTAV", FRAUD, "Approve", fraud_approve.message.ts).status == 200
    bot.sandbox.settle()
    assert bot.trail_kinds(FRAUD_RELEASE).count("approval.approve") == 1


def test_a_button_value_naming_a_request_of_another_message_is_refused(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    go_no_go = bot.driver.find_button(RANKING, "Approve")
    post(bot.sandbox, "metrics", samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1)))
    bot.sandbox.settle()
    rollback = bot.driver.find_button(RANKING, "Approve")  # the newest: the rollback's
    assert rollback.message.ts != go_no_go.message.ts and "Rollback" in rollback.message.text
    # the same channel, even the same thread, but another request's message
    answer = click_button(bot, "U0CHIARA", rollback, value=go_no_go.element["value"])
    assert answer.status == 400
    bot.sandbox.settle()
    refused = [e for e in bot.trail() if e.kind == "approval.refused"]
    assert [e.payload["why"] for e in refused] == ["another_message"]
    assert "approval.approve" not in bot.trail_kinds()
    # the rollback's own button, in the release's thread, still counts (Dmitri: @oncall)
    assert bot.driver.click("U0DMITRI", RANKING, "Approve", rollback.message.ts).status == 200
    bot.sandbox.settle()
    assert "approval.approve" in bot.trail_kinds("rollback:1")

    # a gate's Pass with another review's ids, clicked in the rollback's message: refused too
    gate = json.dumps({"review_id": "1", "gate_id": "eval-metrics"})
    answer = click_button(bot, "U0CHIARA", rollback, action_id="gate_pass", value=gate)
    assert answer.status == 400
    bot.sandbox.settle()
    gate_refused = [e for e in bot.trail() if e.kind == "gate.refused"]
    assert [e.payload["why"] for e in gate_refused] == ["another_message"]


def test_over_socket_mode_a_misplaced_click_is_acknowledged_refused_and_kept(
    database_url: str,
) -> None:
    with Sandbox.start(database_url=database_url, socket_mode=True) as sandbox:
        bot = Bot(sandbox)
        bot.start_ranking_review()
        bot.pass_all_ranking_gates()
        approve = bot.driver.find_button(RANKING, "Approve")
        gate = json.dumps({"review_id": "1", "gate_id": "eval-metrics"})
        answer = click_button(bot, "U0CHIARA", approve, action_id="gate_pass", value=gate)
        assert answer.status == 200  # acknowledged: Slack must not send it again
        bot.sandbox.settle()
        refused = [e for e in bot.trail() if e.kind == "gate.refused"]
        assert [e.payload["why"] for e in refused] == ["another_message"]
        assert any("does not belong" in text for text in bot.ephemerals("U0CHIARA"))

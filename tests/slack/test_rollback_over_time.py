"""Rollbacks over time, end to end: escalation and expiry, auto-execution and Hold, alerts
without a value, the track record after a cooldown, and a high-risk runbook's single Reject."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import (
    ROLLBACK,
    Receiver,
    alert,
    post,
    rollback_runbooks,
    samples,
    wait_until,
)
from tests.slack.support import RANKING, Bot, copy_runbooks


def test_an_undecided_rollback_escalates_then_expires(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    runbooks = copy_runbooks(
        tmp_path,
        {
            "ranking-model.yaml": (
                "      expires_after: 20m\n      escalate_to: [ml_lead]",
                "      expires_after: 3s\n      escalate_to: [ml_lead]\n      escalate_after: 1s",
            )
        },
    )
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        bot = Bot(sandbox)
        post(sandbox, "metrics", samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1)))
        wait_until(lambda: "approval.escalated" in bot.trail_kinds(ROLLBACK), sandbox)
        assert "still waiting for a decision" in bot.transcript()
        assert any("<@U0CHIARA>" in m.text for m in bot.slack.messages(RANKING))
        wait_until(lambda: "rollback.expired" in bot.trail_kinds(ROLLBACK), sandbox)
        assert "Decision: EXPIRED" in bot.transcript()
        assert receiver.calls == []


def auto_runbooks(tmp_path: Path) -> Path:
    """disable-reranker pre-approved at any hour, with a two-second veto window."""
    window = (
        '      window: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00", '
        "timezone: Europe/Berlin}\n      veto_window: 5m"
    )
    return copy_runbooks(tmp_path, {"ranking-model.yaml": (window, "      veto_window: 2s")})


def test_a_pre_approved_path_runs_unless_held(database_url: str, tmp_path: Path) -> None:
    with Sandbox.start(database_url=database_url, runbooks_dir=auto_runbooks(tmp_path)) as sb:
        bot = Bot(sb)
        post(
            sb,
            "metrics",
            samples("p99_latency_ms", [340, 350, 360, 370, 380, 390], timedelta(minutes=1)),
        )
        sb.settle()
        assert "unless someone presses Hold" in bot.transcript()
        bot.driver.find_button(RANKING, "Hold")
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sb)
        approved = next(e for e in bot.trail(ROLLBACK) if e.kind == "rollback.approved")
        assert approved.payload["auto"] is True
        assert "disable-reranker" in bot.transcript()


def test_a_held_path_waits_for_explicit_approval(database_url: str, tmp_path: Path) -> None:
    with Sandbox.start(database_url=database_url, runbooks_dir=auto_runbooks(tmp_path)) as sb:
        bot = Bot(sb)
        post(
            sb,
            "metrics",
            samples("p99_latency_ms", [340, 350, 360, 370, 380, 390], timedelta(minutes=1)),
        )
        sb.settle()
        bot.driver.click("U0ELENA", RANKING, "Hold")  # not an approver: refused
        bot.driver.click("U0DMITRI", RANKING, "Hold")
        bot.driver.click("U0DMITRI", RANKING, "Hold")  # his double click: kept, refused
        sb.settle()
        assert "pressed Hold" in bot.transcript()
        time.sleep(2.5)
        sb.settle()
        assert "rollback.executed" not in bot.trail_kinds(ROLLBACK)
        bot.driver.click("U0BRUNO", RANKING, "Approve")  # explicit approval (oncall quorum 1)
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sb)
        kinds = bot.trail_kinds(ROLLBACK)
        assert kinds.index("rollback.held") < kinds.index("rollback.approved")
        refused = [e for e in bot.trail(ROLLBACK) if e.kind == "rollback.hold_refused"]
        assert [(e.actor, e.payload["why"]) for e in refused] == [
            ("U0ELENA", "not_eligible"),
            ("U0DMITRI", "not_holdable"),
        ]
        assert refused[1].payload["state"] == "held"


def test_a_firing_alert_without_a_value_is_reported_as_insufficient_data(bot: Bot) -> None:
    first = post(bot.sandbox, "alertmanager", alert(None))
    post(bot.sandbox, "alertmanager", alert(None))  # Alertmanager repeats itself
    assert first[0] == 202 and "no 'value' annotation" in " ".join(first[1]["ignored"])
    bot.sandbox.settle()
    notices = [m for m in bot.slack.messages(RANKING) if "insufficient data" in m.text]
    assert len(notices) == 1
    assert "not healthy" in notices[0].text
    assert bot.trail_kinds(ROLLBACK) == []


def test_past_outcomes_feed_later_recommendations_after_the_cooldown(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    runbooks = rollback_runbooks(tmp_path, receiver)
    ranking = runbooks / "ranking-model.yaml"
    ranking.write_text(ranking.read_text().replace("cooldown: 30m", "cooldown: 3s"))
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        bot = Bot(sandbox)
        post(sandbox, "metrics", samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1)))
        sandbox.settle()
        bot.driver.click("U0BRUNO", RANKING, "Approve")
        bot.driver.click("U0DMITRI", RANKING, "Approve")
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
        time.sleep(0.2)  # the recovery is observed after the rollback ran
        post(
            sandbox,
            "metrics",
            samples("error_rate", [0.010, 0.009, 0.008], timedelta(milliseconds=10)),
        )
        wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)

        # a new breach inside the cooldown: reported, not recommended again
        status, answer = post(
            sandbox,
            "metrics",
            samples("error_rate", [0.05, 0.06, 0.07], timedelta(milliseconds=50)),
        )
        assert "cooldown" in answer["decision"]
        sandbox.settle()
        assert bot.trail_kinds("rollback:2") == []

        time.sleep(3)
        status, answer = post(
            sandbox,
            "metrics",
            samples("error_rate", [0.05, 0.06, 0.07], timedelta(milliseconds=50)),
        )
        assert "recommend previous-model" in answer["decision"]
        sandbox.settle()
        latest = bot.slack.messages(RANKING, replies=False)[-1]
        assert "recovered in 1 of 1 past uses" in str(latest.blocks)
        recommended = bot.trail("rollback:2")[0]
        assert "recovered in 1 of 1 past uses" in recommended.payload["explanation"]


def test_one_reject_blocks_a_high_risk_rollback_and_its_reason_is_kept(bot: Bot) -> None:
    body = samples("false_negative_rate", [0.047, 0.052], timedelta(seconds=30))
    body["runbook"] = "fraud-model"
    status, answer = post(bot.sandbox, "metrics", body)
    assert "recommend previous-model" in answer["decision"]
    bot.sandbox.settle()
    bot.driver.click("U0IVAN", "C0FRAUDREL", "Approve")  # oncall, via @payments-oncall
    bot.driver.click("U0FARAH", "C0FRAUDREL", "Reject")  # risk_officer: asked why first
    bot.sandbox.settle()  # the modal opens right after the click is answered
    assert bot.slack.views("U0FARAH")[-1].view["callback_id"] == "reason_modal"
    bot.driver.submit_view("U0FARAH", values={"reason": "FNR spike is a labelling delay"})
    bot.sandbox.settle()
    kinds = bot.trail_kinds(ROLLBACK)
    assert "rollback.rejected" in kinds and "rollback.executed" not in kinds
    rejected = next(e for e in bot.trail(ROLLBACK) if e.kind == "approval.reject")
    assert rejected.actor == "U0FARAH"
    assert rejected.payload["reason"] == "FNR spike is a labelling delay"
    assert "Decision: REJECTED" in bot.transcript("C0FRAUDREL")

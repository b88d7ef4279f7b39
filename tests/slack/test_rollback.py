"""Rollbacks end to end: monitoring's samples in, a recommendation in the channel, approvals by
button, exactly one execution, validation and endorsement, all in the trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.criteria import Sample
from bot.devtools.sandbox import Sandbox
from bot.store import export_subject, session_scope, verify_trail
from bot.store.criterion_states import record_samples
from bot.store.samples import Observation
from tests.slack.rollback_support import (
    ROLLBACK,
    Receiver,
    alert,
    post,
    rollback_runbooks,
    samples,
    wait_until,
)
from tests.slack.support import RANKING, Bot, answer_text


def test_from_alert_to_endorsed_rollback(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        bot = Bot(sandbox)
        for value in (0.031, 0.036):
            assert post(sandbox, "alertmanager", alert(value))[0] == 202
        sandbox.settle()
        assert bot.slack.messages(RANKING) == []  # two samples cannot show three sustained
        status, answer = post(sandbox, "alertmanager", alert(0.041))
        assert status == 202 and "recommend previous-model" in answer["decision"]
        sandbox.settle()
        post(sandbox, "alertmanager", alert(0.044))  # a later alert updates, never reposts
        sandbox.settle()
        roots = bot.slack.messages(RANKING, replies=False)
        assert len(roots) == 1 and roots[0].edits
        channel = bot.transcript()
        assert "Rollback recommended: Search ranking model" in channel
        assert "Recommended: Replace the model with the previous version" in channel
        assert "revenue 2×0.5 + customer 2×0.3 + regulatory 0×0.2 = 1.60" in channel
        assert "not healthy" in channel  # p99 and ctr have no data: said so

        bot.driver.click("U0ELENA", RANKING, "Approve")  # not oncall nor release_champion
        button = bot.driver.find_button(RANKING, "Approve")
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)  # double click
        sandbox.settle()
        assert receiver.calls == []
        bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)  # via @oncall
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
        assert len(receiver.calls) == 1
        call = receiver.calls[0]
        assert call["body"] == {
            "action": "rollback",
            "model": "ranking-model",
            "key": "rollback-1-request-1",
        }
        assert call["headers"]["Idempotency-Key"] == "rollback-1-request-1"

        post(
            sandbox,
            "metrics",
            samples("error_rate", [0.011, 0.009, 0.008], timedelta(milliseconds=100)),
        )
        wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)
        assert "recovered" in bot.transcript().lower()
        bot.driver.click("U0BRUNO", RANKING, "Endorse")  # not ml_lead
        bot.driver.click("U0CHIARA", RANKING, "Endorse")
        bot.driver.click("U0CHIARA", RANKING, "Endorse")  # again: kept, refused
        sandbox.settle()
        assert len(receiver.calls) == 1

        kinds = bot.trail_kinds(ROLLBACK)
        story = [k for k in kinds if not k.startswith("slack.")]
        assert story == [
            "rollback.recommended",
            "approval.refused",  # Elena: not eligible
            "approval.approve",
            "approval.refused",  # Bruno's double click: recorded as a duplicate
            "approval.approve",
            "rollback.approved",
            "rollback.expected",
            "rollback.executed",
            "rollback.validated",
            "rollback.endorse_refused",
            "rollback.endorsed",
            "rollback.endorse_refused",
        ]
        refused = [e for e in bot.trail(ROLLBACK) if e.kind.endswith("_refused")]
        assert [(e.actor, e.payload["why"]) for e in refused] == [
            ("U0BRUNO", "not_endorsing_role"),
            ("U0CHIARA", "already_endorsed"),
        ]
        assert refused[1].actor_role == "ml_lead"
        exported = export_subject(sandbox.runtime.engine, subject=ROLLBACK, fmt="md")
        assert exported.index("rollback.recommended") < exported.index("rollback.endorsed")
        assert "https://acme-ml.slack.com/archives/C0RANKREL/" in exported
        assert json.loads(export_subject(sandbox.runtime.engine, subject=ROLLBACK, fmt="json"))
        assert verify_trail(sandbox.runtime.engine).intact


def test_flapping_inside_the_margin_recommends_nothing(bot: Bot) -> None:
    values = [0.019, 0.024, 0.021, 0.0249, 0.016, 0.023, 0.022, 0.0245]
    status, answer = post(
        bot.sandbox, "metrics", samples("error_rate", values, timedelta(minutes=1))
    )
    assert status == 202 and "no breach" in answer["decision"]
    bot.sandbox.settle()
    assert bot.slack.messages(RANKING) == []
    assert bot.trail_kinds(ROLLBACK) == []


def test_missing_data_is_reported_as_such(bot: Bot) -> None:
    answer = bot.driver.slash_command("U0BRUNO", RANKING, "/rollback", "ranking-model")
    text = answer_text(answer)
    assert "No rollback recommended" in text
    assert "insufficient_data" in text and "never taken as healthy" in text


def test_asking_by_hand_during_a_breach_refreshes_the_same_recommendation(bot: Bot) -> None:
    post(bot.sandbox, "metrics", samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1)))
    bot.sandbox.settle()
    # monitoring asked; now Bruno asks by hand too: the same recommendation, refreshed
    answer = bot.driver.slash_command(
        "U0BRUNO", RANKING, "/rollback", "ranking-model errors after deploy"
    )
    assert "Recommended `previous-model`" in answer_text(answer)
    bot.sandbox.settle()
    roots = bot.slack.messages(RANKING, replies=False)
    assert len(roots) == 1


def test_a_requester_by_hand_cannot_approve_their_own_rollback(bot: Bot) -> None:
    end = datetime.now(UTC)
    runbook = bot.sandbox.runtime.registry.get("ranking-model")
    assert runbook is not None
    with session_scope(bot.sandbox.runtime.engine) as session:  # samples no hook announced
        record_samples(
            session,
            runbook=runbook,
            source="manual",
            now=end,
            observations=[
                Observation(Sample("error_rate", value, end - timedelta(minutes=2 - i)))
                for i, value in enumerate([0.03, 0.04, 0.05])
            ],
        )
    answer = bot.driver.slash_command(
        "U0BRUNO", RANKING, "/rollback", "ranking-model errors after deploy"
    )
    assert "Recommended `previous-model`" in answer_text(answer)
    bot.sandbox.settle()
    bot.driver.click("U0BRUNO", RANKING, "Approve")
    bot.sandbox.settle()
    assert any("separation of duties" in t for t in bot.ephemerals("U0BRUNO"))
    refused = [e for e in bot.trail(ROLLBACK) if e.kind == "approval.refused"]
    assert refused[0].payload["why"] == "self_approval"
    recommended = bot.trail(ROLLBACK)[0]
    assert recommended.actor == "U0BRUNO"
    assert recommended.payload["reason"] == "errors after deploy"


def test_a_change_of_evidence_voids_earlier_votes(bot: Bot) -> None:
    post(bot.sandbox, "metrics", samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1)))
    bot.sandbox.settle()
    bot.driver.click("U0BRUNO", RANKING, "Approve")
    bot.sandbox.settle()
    post(
        bot.sandbox,
        "metrics",
        samples("p99_latency_ms", [340, 350, 360, 370, 380, 390, 400], timedelta(minutes=1)),
    )
    bot.sandbox.settle()
    channel = bot.transcript()
    assert "earlier votes are void" in channel
    assert "approval.voided" in bot.trail_kinds(ROLLBACK)
    bot.driver.click("U0DMITRI", RANKING, "Approve")  # one vote on the new evidence
    bot.sandbox.settle()
    assert "rollback.approved" not in bot.trail_kinds(ROLLBACK)
    bot.driver.click("U0BRUNO", RANKING, "Approve")  # Bruno must vote again
    bot.sandbox.settle()
    assert "rollback.approved" in bot.trail_kinds(ROLLBACK)



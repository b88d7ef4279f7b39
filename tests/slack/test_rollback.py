"""Rollbacks end to end: monitoring's samples in, a recommendation in the channel, approvals by
button, exactly one execution, validation and endorsement, all in the trail."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.core.criteria import Sample
from bot.sandbox import HOOK_TOKEN, Sandbox
from bot.store import export_subject, session_scope, verify_trail
from bot.store.criterion_states import record_samples
from bot.store.samples import Observation
from tests.slack.support import RANKING, Bot, answer_text, copy_runbooks

ROLLBACK = "rollback:1"


class Receiver:
    """A deploy system's webhook: records every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                calls.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/rollback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


def rollback_runbooks(tmp_path: Path, receiver: Receiver, extra: str = "") -> Path:
    """ranking-model with previous-model run by a webhook to ``receiver``, validated fast."""
    return copy_runbooks(
        tmp_path,
        {
            "ranking-model.yaml": (
                """    executor:
      type: command
      argv: ["deployctl", "rollback", "ranking-model", "--to", "previous"]
      timeout: 5m
    validation: {metric: error_rate, window: 20m, endorse_role: ml_lead}""",
                f"""    executor:
      type: webhook
      url: {receiver.url}
      payload: {{action: rollback, model: $runbook, key: $idempotency_key}}
      timeout: 5s
    validation: {{metric: error_rate, window: 1s, endorse_role: ml_lead}}{extra}""",
            )
        },
    )


def post(sandbox: Sandbox, hook: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{sandbox.server.url}/hooks/{hook}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read())


def alert(value: float | None, metric: str = "error_rate") -> dict[str, Any]:
    annotations = {"summary": "error rate high"} | ({"value": str(value)} if value else {})
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RankingErrors"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "releasebot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am.local",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "RankingErrors",
                    "runbook": "ranking-model",
                    "metric": metric,
                },
                "annotations": annotations,
                "startsAt": "2026-11-22T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom.local/graph",
                "fingerprint": "6e1d9c2a4b3f",
            }
        ],
    }


def samples(
    metric: str, values: list[float], every: timedelta, end: datetime | None = None
) -> dict[str, Any]:
    end = end or datetime.now(UTC)
    return {
        "runbook": "ranking-model",
        "samples": [
            {
                "metric": metric,
                "value": value,
                "at": (end - every * (len(values) - 1 - i)).isoformat(),
            }
            for i, value in enumerate(values)
        ],
    }


def wait_until(condition: Callable[[], bool], sandbox: Sandbox, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)
    sandbox.settle()


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
        sandbox.settle()
        assert len(receiver.calls) == 1

        kinds = bot.trail_kinds(ROLLBACK)
        story = [k for k in kinds if not k.startswith("slack.")]
        assert story == [
            "rollback.recommended",
            "approval.refused",
            "approval.approve",
            "approval.approve",
            "rollback.approved",
            "rollback.executed",
            "rollback.validated",
            "rollback.endorse_refused",
            "rollback.endorsed",
        ]
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
        sb.settle()
        assert "pressed Hold" in bot.transcript()
        time.sleep(2.5)
        sb.settle()
        assert "rollback.executed" not in bot.trail_kinds(ROLLBACK)
        bot.driver.click("U0BRUNO", RANKING, "Approve")  # explicit approval (oncall quorum 1)
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sb)
        kinds = bot.trail_kinds(ROLLBACK)
        assert kinds.index("rollback.held") < kinds.index("rollback.approved")
        assert "rollback.hold_refused" in kinds


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

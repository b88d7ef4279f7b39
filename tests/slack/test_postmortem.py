"""Blameless post-mortems end to end, on a controlled clock: after a rollback's validation the
thread offers "Write the post-mortem"; the form (pre-filled from the trail) submitted through
the emulator is in the trail and summarised in the thread; an addition is a new event and
replaces nothing; the action item is in its owner's App Home, reminded by a timer on its due
date, and closed by Done there. The lesson then shows in the journal and, beside the path's
track record, in the next recommendation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import (
    ROLLBACK,
    Receiver,
    post,
    rollback_runbooks,
    samples,
    wait_until,
)
from tests.slack.support import RANKING, Bot
from tests.slack.test_app_home import open_home, section
from tests.slack.test_report import MINUTE, Clock

WRITE = "Write the post-mortem"


def recovered_rollback(sandbox: Sandbox, bot: Bot, clock: Clock) -> None:
    body = samples("error_rate", [0.031, 0.036, 0.041], MINUTE, end=clock.now)
    assert post(sandbox, "metrics", body)[0] == 202
    sandbox.settle()
    button = bot.driver.find_button(RANKING, "Approve")
    clock.advance(2 * MINUTE)
    bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
    bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)
    wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
    clock.advance(MINUTE)
    body = samples("error_rate", [0.011, 0.009, 0.008], timedelta(seconds=10), end=clock.now)
    assert post(sandbox, "metrics", body)[0] == 202
    wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)


def test_a_postmortem_written_added_to_reminded_and_its_lesson_shown(
    database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    clock = Clock()
    due = (clock.now + timedelta(days=2)).date()
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        recovered_rollback(sandbox, bot, clock)
        (first_root,) = [m.ts for m in bot.slack.messages(RANKING, replies=False)]
        assert "Time for a blameless post-mortem of rollback:1" in bot.transcript()

        bot.driver.click("U0HANNA", RANKING, WRITE)  # holds no ranking-model role
        sandbox.settle()
        assert any("Only the roles of *ranking-model*" in t for t in bot.ephemerals("U0HANNA"))
        assert bot.slack.views(user="U0HANNA") == []

        bot.driver.click("U0DMITRI", RANKING, WRITE)
        sandbox.settle()
        (form,) = bot.slack.views(user="U0DMITRI")
        shown = json.dumps(form.view, ensure_ascii=False)
        assert "approved by oncall" in shown and "rollback executed by releasebot" in shown
        assert "U0BRUNO" not in shown and "U0DMITRI" not in shown  # roles, not people
        assert "revenue 2×0.5 + customer 2×0.3 + regulatory 0×0.2 = 1.60" in shown
        assert "error_rate: recovered" in shown
        refused = bot.driver.submit_view(
            "U0DMITRI", {"what_happened": "x", "what_to_change": "Alert sooner",
                         "item_1": "Add a canary alert"},
        )  # fmt: skip
        errors = refused.json["errors"]
        assert set(errors) == {"what_happened", "item_1_owner"}
        answer = bot.driver.submit_view(
            "U0DMITRI",
            {"what_happened": "Error rate rose after v2.4.0; the previous model was restored.",
             "went_well": "Two approvals within minutes.",
             "what_to_change": "Alert on the canary before the full rollout <!channel>",
             "item_1": "Add a canary error-rate alert", "item_1_owner": "U0ELENA",
             "item_1_due": due.isoformat()},
        )  # fmt: skip
        assert answer.status == 200 and answer.json in (None, {}, "")
        sandbox.settle()
        kinds = bot.trail_kinds(ROLLBACK)
        assert kinds.count("postmortem.written") == 1
        written = next(e for e in bot.trail(ROLLBACK) if e.kind == "postmortem.written")
        assert written.actor_role == "oncall"  # the first of his roles: oncall, search_sre
        assert written.payload["action_items"][0]["owner"] == "U0ELENA"
        transcript = bot.transcript()
        assert "Post-mortem recorded by oncall, search_sre" in transcript
        (summary,) = [m for m in bot.slack.messages(RANKING) if "Post-mortem recorded" in m.text]
        assert "<!channel>" not in summary.text and "&lt;!channel&gt;" in summary.text

        bot.driver.click("U0BRUNO", RANKING, WRITE)
        sandbox.settle()
        form = bot.slack.views(user="U0BRUNO")[-1]
        assert "A post-mortem is already recorded" in json.dumps(form.view)
        bot.driver.submit_view(
            "U0BRUNO", {"what_happened": "On-call saw it first in the canary.",
                        "what_to_change": "Page the ml_lead together with on-call"},
        )  # fmt: skip
        sandbox.settle()
        events = bot.trail(ROLLBACK)
        assert [e.kind for e in events].count("postmortem.added") == 1
        assert events[[e.kind for e in events].index("postmortem.written")] == written

        items = section(open_home(bot, "U0ELENA"), "Post-mortem action items you own")
        assert "(1)" in items and "Add a canary error-rate alert" in items
        assert f"due {due.isoformat()}" in items

        clock.advance(timedelta(days=3))  # past 09:00 UTC on the due date
        wait_until(lambda: "postmortem.reminded" in bot.trail_kinds(ROLLBACK), sandbox)
        assert "a post-mortem action item is due" in bot.transcript()
        bot.driver.click_home("U0ELENA", "Done")
        sandbox.settle()
        assert "postmortem.item_done" in bot.trail_kinds(ROLLBACK)
        items = section(open_home(bot, "U0ELENA"), "Post-mortem action items you own")
        assert "(0)" in items

        clock.advance(timedelta(hours=1))  # the next breach: the lesson beside the track record
        body = samples("error_rate", [0.031, 0.036, 0.041], MINUTE, end=clock.now)
        assert post(sandbox, "metrics", body)[0] == 202
        sandbox.settle()
        assert "rollback.recommended" in bot.trail_kinds("rollback:2")
        (root,) = [m for m in bot.slack.messages(RANKING, replies=False) if m.ts != first_root]
        text = json.dumps(root.blocks, ensure_ascii=False)
        assert "recovered in 1 of 1 past uses" in text
        assert "*Latest lesson:* Page the ml_lead together with on-call" in text

    monkeypatch.setenv("RELEASEBOT_DATABASE_URL", database_url)
    assert main(["journal", "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["lessons"] == [
        "Alert on the canary before the full rollout <!channel>",
        "Page the ml_lead together with on-call",
    ]


def test_after_a_drill_its_thread_invites_a_postmortem_recorded_on_the_drill(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    from tests.slack.test_drills import DRILL, SLOT, move
    from tests.slack.test_drills import Clock as DrillClock

    clock = DrillClock(SLOT - timedelta(seconds=30))
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        move(sandbox, clock, SLOT)
        wait_until(lambda: "drill.started" in bot.trail_kinds(DRILL), sandbox)
        move(sandbox, clock, SLOT + timedelta(minutes=3))
        wait_until(lambda: "drill.detected" in bot.trail_kinds(DRILL), sandbox)
        move(sandbox, clock, SLOT + timedelta(minutes=5))
        button = bot.driver.find_button(RANKING, "Approve")
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
        bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)
        wait_until(lambda: "drill.scored" in bot.trail_kinds(DRILL), sandbox)
        sandbox.settle()
        assert f"Time for a blameless post-mortem of {DRILL}" in bot.transcript()
        assert bot.transcript().count("Time for a blameless post-mortem") == 1

        bot.driver.click("U0ALICE", RANKING, WRITE)
        sandbox.settle()
        (form,) = bot.slack.views(user="U0ALICE")
        shown = json.dumps(form.view, ensure_ascii=False)
        assert "drill started" in shown and "breach detected" in shown
        assert "drill score" in shown
        bot.driver.submit_view(
            "U0ALICE", {"what_happened": "The drill's breach was seen in three minutes.",
                        "what_to_change": "Page search_sre with on-call in drills too"},
        )  # fmt: skip
        sandbox.settle()
        assert "postmortem.written" in bot.trail_kinds(DRILL)
        assert "Post-mortem recorded by release_champion" in bot.transcript()

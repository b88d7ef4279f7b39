"""A drill on the web pages: listed among the trail's subjects with its runbook, status,
dates and outcome (the score), and its own page saying plainly that it was a drill, with its
report and score laid out; text typed in Slack during a drill shows as text; nothing of it
is shown before signing in."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import Receiver, rollback_runbooks
from tests.slack.support import RANKING, Bot, answer_text
from tests.web.drill_support import Clock, approve_drill, reject_and_time_out, start_drill

HOSTILE_REASON = '<img src=x onerror="alert(1)"> </table><script>alert(2)</script> <!channel>'


def text_of(html: str) -> str:
    """What a person reads: tags dropped, whitespace folded (entities left as they are)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_drills_are_listed_and_laid_out(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    try:
        runbooks = rollback_runbooks(tmp_path, receiver)
        with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as site:
            approved = start_drill(site, clock)
            running = Visitor(site.server.url).sign_in("U0BRUNO", start="/trail/" + approved)
            shown = text_of(running.body)
            assert "ended not yet: the drill is running" in shown and "Drill report" not in shown
            assert "breach detected" in shown  # the status after drill.detected
            approve_drill(site, clock, approved)
            rejected = start_drill(site, clock)
            reject_and_time_out(site, clock, rejected, HOSTILE_REASON)
            refused = Bot(site).driver.slash_command(
                "U0ELENA", RANKING, "/drill", "start ranking-model error-spike"
            )
            assert "this refusal is in the trail" in answer_text(refused)
            site.settle()
            assert receiver.calls == []  # drills never call the executor
            read_the_drill_pages(site, approved, rejected)
    finally:
        receiver.close()


def read_the_drill_pages(site: Sandbox, approved: str, rejected: str) -> None:
    stranger = Visitor(site.server.url)
    assert stranger.get("/trail/" + approved).status == 302
    assert stranger.get("/trail?kind=drill&format=json").status == 401

    visitor = Visitor(site.server.url)
    listed = visitor.sign_in("U0ALICE", start="/trail?kind=drill")
    rows = [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", listed.body, re.S)][1:]
    assert [row.split()[0] for row in rows] == [
        "drill:ranking-model.error-spike",
        rejected,
        approved,
    ]
    assert rows[2].startswith(
        f"{approved} drill ranking-model reported approved, score 91/100 2026-11-23 09:00:00 UTC"
    ), rows[2]
    assert "reported expired, score 59/100" in rows[1]
    assert "refused refused" in rows[0]
    assert "release:" not in listed.body and "rollback:" not in listed.body.split("<table")[1]
    as_json = json.loads(visitor.get("/trail?kind=drill&format=json").body)
    assert [(s["subject"], s["kind"], s["runbook_id"]) for s in as_json["subjects"]][1:] == [
        (rejected, "drill", "ranking-model"),
        (approved, "drill", "ranking-model"),
    ]

    page = visitor.get("/trail/" + approved)
    assert page.status == 200
    shown = text_of(page.body)
    assert "DRILL " + approved in shown  # the heading says it
    assert "🧪 DRILL : a game-day exercise on a synthetic incident" in shown
    assert "“Error-rate spike after a bad deploy”" in shown
    assert "started 2026-11-23 09:00:00 UTC by U0ALICE" in shown
    assert "scenario error_rate: 0.012, 0.031, 0.036, 0.041, 0.044" in shown
    assert "ended decided (approved)" in shown
    assert "Drill report 91 /100 · Decided: the path was approved" in shown
    assert "first response U0BRUNO, 1m after the recommendation" in shown
    assert "decision 3m after the recommendation" in shown
    assert "nothing was called. Validated." in shown
    assert "first response 19 / 20 20 × (1 − 1.0 min / 30.0 min) = 19" in shown
    assert "refusals 5 / 10 10 − 5 × 1 refused vote(s) = 5" in shown
    assert (
        "score 91 / 100 detection 15 + expected path 15 + first response 19 + decision 22 + "
        "refusals 5 + dry run 15 = 91" in shown
    )
    assert "U0ELENA refused (not in an approving role)" in shown
    assert 'href="#event-' in page.body and "drill.scored event #" in shown
    # the timeline lays nested objects out as lists, not as JSON, and points to the report
    assert "&#34;" not in page.body and '{"' not in page.body
    assert re.search(r'<dt>result</dt>\s*<dd>\s*<dl class="payload">', page.body)
    assert "report laid out above, under Drill report" in shown
    assert 'href="/runbooks/ranking-model"' in page.body

    hostile = visitor.get("/trail/" + rejected)
    assert hostile.status == 200
    assert "<script>" not in hostile.body and "<img" not in hostile.body
    assert "</table><script>" not in hostile.body
    assert (
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &lt;/table&gt;&lt;script&gt;alert(2)"
        "&lt;/script&gt; &lt;!channel&gt;" in hostile.body
    )
    shown = text_of(hostile.body)
    assert "ended timed out" in shown and "59 /100 · The approval request expired" in shown
    assert "first response U0BRUNO, 1m after the recommendation" in shown
    assert "decision no decision" in shown and "dry run nothing ran" in shown

    refusal = visitor.get("/trail/drill:ranking-model.error-spike")
    assert refusal.status == 200 and "drill.refused" in refusal.body
    assert "not_a_starter" in refusal.body and "Drill report" not in refusal.body

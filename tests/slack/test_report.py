"""Process-health figures end to end: a release review and a rollback driven through signed
HTTP and the emulator on a controlled clock; ``releasebot report`` gives the durations worked
out by hand below, ``--explain`` names their events, and ``/metrics`` gives the same counts
before and after a restart (they are built from the trail, not from process memory)."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import (
    ROLLBACK,
    Receiver,
    post,
    rollback_runbooks,
    samples,
    wait_until,
)
from tests.slack.support import RANKING, RELEASE, Bot

MINUTE = timedelta(minutes=1)


class Clock:
    """The bot's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def scrape(sandbox: Sandbox) -> dict[str, float]:
    """The process-health samples of ``/metrics``: ``name{runbook[,le]}`` -> value."""
    with urllib.request.urlopen(f"{sandbox.server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"(releasebot_(?:rollback|readiness)\S*?)\{(.*)\} (\S+)", line)
        if match:
            name, labels, value = match.groups()
            parts = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            le = f",{parts['le']}" if "le" in parts else ""
            found[f"{name}{{{parts['runbook']}{le}}}"] = float(value)
    return found


def test_report_and_metrics_from_a_review_and_a_rollback(
    database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    clock = Clock()
    runbooks = rollback_runbooks(tmp_path, receiver)
    sandbox = Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock)
    try:
        bot = Bot(sandbox)
        bot.start_ranking_review()  # T: release.started
        clock.advance(12 * MINUTE)
        bot.pass_all_ranking_gates()  # T+12: every gate marked, go/no-go requested
        assert "go_no_go.requested" in bot.trail_kinds(RELEASE)

        clock.advance(30 * MINUTE)  # R = T+42: a breach, sustained over three samples
        body = samples("error_rate", [0.031, 0.036, 0.041], MINUTE, end=clock.now)
        assert post(sandbox, "metrics", body)[0] == 202
        sandbox.settle()
        assert "rollback.recommended" in bot.trail_kinds(ROLLBACK)
        button = bot.driver.find_button(RANKING, "Approve")
        clock.advance(2 * MINUTE)  # R+2: first vote
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
        clock.advance(3 * MINUTE)  # R+5: the second vote makes the quorum; executed at once
        bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)
        wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
        clock.advance(MINUTE)  # R+6: back inside, then validation (its 1 s window is past)
        body = samples("error_rate", [0.011, 0.009, 0.008], timedelta(seconds=10), end=clock.now)
        assert post(sandbox, "metrics", body)[0] == 202
        wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)
        before = scrape(sandbox)
        page = Visitor(sandbox.server.url).sign_in("U0ALICE", start="/report")
        assert "<td>breach detected (recommendation) → approval decided</td>" in page.body
        assert "<td>5.0 min (p90 5.0 min), n=1</td><td>-</td>" in page.body
        assert "ranking-model: 100% of validated rollbacks recovered" in page.body
        sandbox = sandbox.restart(clock=clock)
        after = scrape(sandbox)
    finally:
        sandbox.stop()

    monkeypatch.setenv("RELEASEBOT_DATABASE_URL", database_url)
    assert main(["report", "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)["runbooks"]["ranking-model"]["figures"]
    assert figures["readiness"] == {"count": 1, "median": 720.0, "p90": 720.0}
    assert figures["first_vote"] == {"count": 1, "median": 120.0, "p90": 120.0}
    assert figures["quorum"] == {"count": 1, "median": 300.0, "p90": 300.0}
    assert figures["execution"] == {"count": 1, "median": 0.0, "p90": 0.0}
    assert figures["recovery"] == {"count": 1, "median": 360.0, "p90": 360.0}
    assert figures["go_no_go_decision"]["count"] == 0  # still awaiting the go
    for name in ("rollbacks_recommended", "rollbacks_approved", "rollbacks_executed",
                 "rollbacks_validated", "rollbacks_recovered"):  # fmt: skip
        assert figures[name] == {"count": 1}, name
    assert figures["drills_started"] == {"count": 0}

    assert main(["report"]) == 0
    text = capsys.readouterr().out
    assert (
        "| breach detected (recommendation) → first vote (`first_vote`) | 1 | 2.0 min | 2.0 min |"
        in text
    )
    assert "Share of validated rollbacks that recovered: 100%." in text
    assert "Rollbacks executed per path: previous-model 1." in text
    assert "Drills: none in the trail." in text

    assert main(["report", "--explain", "quorum"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"ranking-model  {ROLLBACK} 5.0 min  events #")
    assert main(["report", "--explain", "nonsense"]) == 2
    assert main(["report", "--runbook", "fraud-model", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runbooks"] == {}

    assert before == after
    assert after["releasebot_rollbacks_recommended_total{ranking-model}"] == 1
    assert after["releasebot_rollbacks_recovered_total{ranking-model}"] == 1
    assert after["releasebot_rollback_decision_seconds_count{ranking-model}"] == 1
    assert after["releasebot_rollback_decision_seconds_sum{ranking-model}"] == 300
    assert after["releasebot_rollback_decision_seconds_bucket{ranking-model,120}"] == 0
    assert after["releasebot_rollback_decision_seconds_bucket{ranking-model,300}"] == 1
    assert after["releasebot_readiness_review_seconds_sum{ranking-model}"] == 720

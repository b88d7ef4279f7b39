"""Reminders and expiry run from timers kept in the bot's database, so a restart
loses no reminder and still enforces expiry."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from bot.devtools.sandbox import Sandbox
from tests.slack.support import RANKING, Bot, copy_runbooks


def test_a_go_no_go_expires_even_across_a_restart(database_url: str, tmp_path: Path) -> None:
    runbooks = copy_runbooks(
        tmp_path, {"ranking-model.yaml": ("    expires_after: 4h", "    expires_after: 2s")}
    )
    first = Sandbox.start(database_url=database_url, runbooks_dir=runbooks)
    bot = Bot(first)
    try:
        bot.start_ranking_review()
        bot.pass_all_ranking_gates()
        assert ("request.expire", "request:1") in first.runtime.scheduler.open_timers()
        bot.driver.click("U0BRUNO", RANKING, "Approve")  # one of the two approvals needed
        first.settle()
    finally:
        first.stop(keep_slack=True)
    time.sleep(2.5)  # the request expires while no bot is running

    second = Sandbox.start(database_url=database_url, runbooks_dir=runbooks, slack=first.slack)
    bot = Bot(second)
    try:
        deadline = time.monotonic() + 10
        while "go_no_go.expired" not in bot.trail_kinds() and time.monotonic() < deadline:
            time.sleep(0.1)
        second.settle()
        assert "go_no_go.expired" in bot.trail_kinds()
        channel = bot.transcript()
        assert "Go/no-go for ranking-model v2.4.0: EXPIRED" in channel
        # the request message can no longer be used
        late = bot.driver.click("U0CHIARA", RANKING, "Approve") if _has_approve(bot) else None
        assert late is None
    finally:
        second.stop()


def _has_approve(bot: Bot) -> bool:
    try:
        bot.driver.find_button(RANKING, "Approve")
    except LookupError:
        return False
    return True


def test_open_gates_are_reminded_on_the_runbook_schedule(database_url: str, tmp_path: Path) -> None:
    runbooks = copy_runbooks(
        tmp_path, {"ranking-model.yaml": ("  remind_every: 1h", "  remind_every: 1s")}
    )
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        bot = Bot(sandbox)
        bot.start_ranking_review()
        bot.driver.click("U0CHIARA", RANKING, "Pass", match="eval-metrics")
        deadline = time.monotonic() + 10
        while "review.reminded" not in bot.trail_kinds() and time.monotonic() < deadline:
            time.sleep(0.1)
        sandbox.settle()
        reminders = [m for m in bot.slack.messages(RANKING) if "Reminder" in m.text]
        assert reminders, bot.transcript()
        assert "3 gate(s) still open" in reminders[0].text
        assert "<@U0DMITRI>" in reminders[0].text and "<@U0CHIARA>" in reminders[0].text

        # /metrics: who this replica is, and that it ran the reminders, on time or nearly
        replica = sandbox.runtime.scheduler.replica
        with urllib.request.urlopen(f"{sandbox.server.url}/metrics") as answer:
            text = answer.read().decode()
        assert f'releasebot_replica_info{{replica="{replica}"}} 1.0' in text
        assert 'releasebot_timers_run_total{kind="review.remind",outcome="done"}' in text
        assert 'releasebot_timer_lateness_seconds_count{kind="review.remind"}' in text
        last_run = "releasebot_timer_last_run_timestamp_seconds"
        assert f'{last_run}{{kind="review.remind",replica="{replica}"}}' in text

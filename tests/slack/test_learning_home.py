"""The App Home's rollback and learning parts, end to end: the rollback approvals waiting for
the person who opens the tab, then the latest journal entry and the team's figures once the
rollback has recovered (signed ``app_home_opened`` events, views published to the emulator)."""

from __future__ import annotations

from pathlib import Path

from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import (
    ROLLBACK,
    Receiver,
    alert,
    post,
    rollback_runbooks,
    wait_until,
)
from tests.slack.support import RANKING, Bot
from tests.slack.test_app_home import open_home, section
from tests.slack.test_journal import drive_a_recovered_rollback


def test_the_home_lists_rollbacks_waiting_then_the_journal_and_figures(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        bot = Bot(sandbox)
        for value in (0.031, 0.036, 0.041):
            assert post(sandbox, "alertmanager", alert(value))[0] == 202
        sandbox.settle()
        waiting = section(open_home(bot, "U0BRUNO"), "Rollbacks waiting for your approval")
        assert "Rollbacks waiting for your approval (1)" in waiting
        assert "Rollback of ranking-model: Replace the model with the previous version" in waiting
        assert "you approve as oncall" in waiting and "2 of 2 approvals still needed" in waiting
        assert "Open the recommendation" in waiting
        elena = section(open_home(bot, "U0ELENA"), "Rollbacks waiting for your approval")
        assert "(0)" in elena and "No rollbacks are waiting for your approval." in elena

        button = bot.driver.find_button(RANKING, "Approve")
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
        sandbox.settle()
        voted = section(open_home(bot, "U0BRUNO"), "Rollbacks waiting for your approval")
        assert "(0)" in voted  # his vote is in: no longer waiting for him
        dmitri = section(open_home(bot, "U0DMITRI"), "Rollbacks waiting for your approval")
        assert "1 of 2 approvals still needed" in dmitri

        journal = section(open_home(bot, "U0DMITRI"), "Latest rollback in the journal")
        assert "No approved rollback in the last 90 days." in journal
        drive_rest(sandbox, bot)
        page = open_home(bot, "U0DMITRI")
        journal = section(page, "Latest rollback in the journal")
        assert f"{ROLLBACK} · ranking-model path previous-model" in journal
        assert "Expected: error_rate back under 0.015 within 1 s of execution" in journal
        assert "Actual: recovered in" in journal
        figures = section(page, "The team's process health")
        assert "rollbacks recommended: 1 (0)" in figures
        assert "rollbacks that recovered: 1 (0)" in figures


def drive_rest(sandbox: Sandbox, bot: Bot) -> None:
    """The second approval, execution, recovery and endorsement (``drive_a_recovered_rollback``
    from its second vote on)."""
    drive_a_recovered_rollback(sandbox, bot, first_votes=1)
    wait_until(lambda: "rollback.endorsed" in bot.trail_kinds(ROLLBACK), sandbox)

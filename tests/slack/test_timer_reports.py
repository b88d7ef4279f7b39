"""A review's or rollback's timer that failed for good is said in its thread and its trail."""

from __future__ import annotations

from datetime import timedelta

from bot.scheduler.handlers import (
    EXECUTION_VALIDATE,
    REQUEST_ESCALATE,
    REQUEST_EXPIRE,
    REVIEW_REMIND,
)
from bot.scheduler.reports import report_failed_timer
from bot.store import unit_of_work
from bot.store.timers import Timer
from tests.slack.support import RANKING, RELEASE, Bot
from tests.slack.test_rollback import ROLLBACK, post, samples


def failed(bot: Bot, kind: str, key: str, error: str) -> None:
    now = bot.sandbox.now()
    timer = Timer(
        id=1,
        kind=kind,
        key=key,
        due_at=now - timedelta(minutes=2),
        payload={},
        attempts=8,
        repeat_every=None,
        claimed_by="replica-a",
        started_at=now,
    )
    with unit_of_work(bot.sandbox.runtime.engine) as uow:
        report_failed_timer(uow, timer, error)
    bot.sandbox.settle()


def test_a_go_no_go_whose_expiry_failed_says_so_in_the_release_thread(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()  # the go/no-go is request 1
    failed(bot, REQUEST_EXPIRE, "request:1", "KeyError: 'pending' <@U0ALICE>")
    failed(bot, REVIEW_REMIND, "review:1", "OperationalError: database is locked")
    events = [e for e in bot.trail() if e.kind == "timer.failed"]
    assert [(e.payload["timer"], e.payload["key"], e.payload["attempts"]) for e in events] == [
        (REQUEST_EXPIRE, "request:1", 8),
        (REVIEW_REMIND, "review:1", 8),
    ]
    thread = bot.transcript()
    assert "The scheduled expiry due" in thread and "failed 8 time(s)" in thread
    assert "The scheduled reminder due" in thread and "Check it by hand" in thread
    [expiry] = [m.text for m in bot.slack.messages(RANKING) if "scheduled expiry" in m.text]
    assert "&lt;@U0ALICE&gt;" in expiry  # the error's text is escaped: no mention


def test_a_rollback_whose_escalation_or_validation_failed_says_so_in_its_thread(
    bot: Bot,
) -> None:
    post(bot.sandbox, "metrics", samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1)))
    bot.sandbox.settle()
    failed(bot, REQUEST_ESCALATE, "request:1", "TimeoutError")
    failed(bot, EXECUTION_VALIDATE, "execution:9", "no such execution")  # nothing to tell
    kinds = bot.trail_kinds(ROLLBACK)
    assert kinds.count("timer.failed") == 1
    replies = [m.text for m in bot.slack.messages(RANKING) if "did not happen" in m.text]
    assert len(replies) == 1 and "scheduled escalation" in replies[0]
    assert "timer.failed" not in bot.trail_kinds(RELEASE)


def test_a_drill_whose_timer_failed_says_so_in_the_drill_thread(bot: Bot) -> None:
    answer = bot.driver.slash_command("U0ALICE", RANKING, "/drill",
                                      "start ranking-model error-spike")  # fmt: skip
    assert answer.status == 200
    bot.sandbox.settle()
    failed(bot, "drill.timeout", "drill:1", "OperationalError: database is locked")
    failed(bot, "drill.start", "drill:ranking-model:error-spike", "RuntimeError: boom")
    assert [e.payload["timer"] for e in bot.trail("drill:1") if e.kind == "timer.failed"] == [
        "drill.timeout"
    ]
    assert "The scheduled drill timeout due" in bot.transcript()
    starts = [e for e in bot.trail("drill:ranking-model.error-spike") if e.kind == "timer.failed"]
    assert [e.payload["timer"] for e in starts] == ["drill.start"]

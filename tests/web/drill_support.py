"""A game-day drill played as Slack drives it (signed slash command and clicks through the
emulator, the drill's timers run by the bot's worker on a clock the test moves), for the web
pages' tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import wait_until
from tests.slack.support import RANKING, Bot, answer_text


class Movable(Protocol):
    def __call__(self) -> datetime: ...

    def advance(self, by: timedelta) -> None: ...


@dataclass
class Clock:
    """A clock that stands still until the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass
class ShiftedClock:
    """The real time, moved forward by what the test adds (for tests that also wait for
    real things, such as a validation window, before a drill)."""

    shift: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def advance(self, by: timedelta) -> None:
        self.shift += by


def move(sandbox: Sandbox, clock: Movable, by: timedelta) -> None:
    clock.advance(by)
    sandbox.runtime.scheduler.worker.wake()


def start_drill(sandbox: Sandbox, clock: Movable) -> str:
    """Alice starts ranking-model's error-spike drill; the scenario plays until the bot
    recommends a rollback in the drill's thread. Returns the drill's subject."""
    bot = Bot(sandbox)
    answer = bot.driver.slash_command(
        "U0ALICE", RANKING, "/drill", "start ranking-model error-spike"
    )
    started = answer_text(answer)
    assert "started (run " in started, started
    subject = "drill:" + started.split("started (run ", 1)[1].split(")", 1)[0]
    sandbox.settle()
    move(sandbox, clock, timedelta(minutes=4))
    wait_until(lambda: "drill.detected" in bot.trail_kinds(subject), sandbox)
    return subject


def approve_drill(sandbox: Sandbox, clock: Movable, subject: str) -> None:
    """An outsider is refused, then two approvers decide; the dry run runs and the drill is
    scored and reported."""
    bot = Bot(sandbox)
    button = bot.driver.find_button(RANKING, "Approve")
    bot.driver.click("U0ELENA", RANKING, "Approve", button.message.ts)  # not eligible
    move(sandbox, clock, timedelta(minutes=1))
    bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
    move(sandbox, clock, timedelta(minutes=2))
    bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)
    wait_until(lambda: "drill.scored" in bot.trail_kinds(subject), sandbox)


def reject_and_time_out(sandbox: Sandbox, clock: Movable, subject: str, reason: str) -> None:
    """An approver rejects the drill's rollback with ``reason`` typed in the modal (recorded;
    rejects do not block under the rollback rule), nobody else decides, and the drill times
    out and is reported."""
    bot = Bot(sandbox)
    button = bot.driver.find_button(RANKING, "Reject")
    move(sandbox, clock, timedelta(minutes=1))
    assert bot.driver.click("U0BRUNO", RANKING, "Reject", button.message.ts).status == 200
    assert bot.driver.submit_view("U0BRUNO", values={"reason": reason}).status == 200
    sandbox.settle()
    move(sandbox, clock, timedelta(minutes=40))
    wait_until(lambda: "drill.scored" in bot.trail_kinds(subject), sandbox)

"""``releasebot demo --drill``: a game-day drill against the local Slack emulator.

The bot runs on a clock the demo moves (the drill's values come one a minute, its timeout is
30 minutes: nobody wants to wait that long), everything else is real: signed slash commands
and clicks, the bot's timers, its outbox, the emulator's Web API. Alice (release champion)
starts the shipped ``ranking-model`` drill ``error-spike``; an outsider's start is refused;
the values are played; the bot recommends a path in the drill's thread; Alice's own approval
is refused (she started it), an outsider's too; Bruno and Dmitri approve; the path's command
is *not* run (a dry run says what would have run); the report with its score follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.commands.terminal import make_console, trail_view
from bot.devtools.emulator import Delivery
from bot.devtools.sandbox import Sandbox
from bot.resources import shipped
from bot.store import read_connection, trail_for_subject, verify_trail

CHANNEL = "C0RANKREL"
SUBJECT = "drill:1"
WAIT_S = 60.0  # a wait that ends as soon as the event is there; generous for a loaded machine


class DrillDemoError(RuntimeError):
    """A step of the drill demo did not have the effect it should."""


class DemoClock:
    """The bot's clock in the demo: real time, plus however far the demo has moved it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def run_drill_demo(
    say: Callable[[str], None] = print, *, database: Path, program: str = "releasebot"
) -> int:
    url = f"sqlite:///{database}"
    say("releasebot demo --drill: a game-day drill in a local Slack workspace (emulator); "
        "the bot's clock is moved forward by the demo instead of waiting.\n")  # fmt: skip
    clock = DemoClock()
    console = make_console()
    with Sandbox.start(database_url=url, runbooks_dir=shipped("runbooks"), clock=clock) as sb:
        driver = sb.driver

        def step(text: str, action: Callable[[], Delivery]) -> None:
            say(f"▶ {text}")
            answer = action()
            if answer.status != 200:
                raise DrillDemoError(f"the bot answered {answer.status}: {answer.body}")
            sb.settle()

        def forward(minutes: float, why: str) -> None:
            say(f"▶ {minutes:g} minute(s) pass: {why}")
            clock.offset += timedelta(minutes=minutes)
            sb.runtime.scheduler.worker.wake()

        step("elena (search_sre) types /drill start ranking-model error-spike (refused)",
             lambda: driver.slash_command("U0ELENA", CHANNEL, "/drill",
                                          "start ranking-model error-spike"))  # fmt: skip
        step("alice (release_champion) types /drill start ranking-model error-spike",
             lambda: driver.slash_command("U0ALICE", CHANNEL, "/drill",
                                          "start ranking-model error-spike"))  # fmt: skip
        _wait_for(sb, "drill.started")
        forward(3, "the scenario's values 0.012, 0.031, 0.036, 0.041 are played, one a minute")
        _wait_for(sb, "drill.detected")
        forward(1.5, "the team reads the recommendation")
        step("alice, who started the drill, presses Approve (separation of duties: refused)",
             lambda: driver.click("U0ALICE", CHANNEL, "Approve"))  # fmt: skip
        step("elena, who is neither oncall nor release_champion, presses Approve (refused)",
             lambda: driver.click("U0ELENA", CHANNEL, "Approve"))  # fmt: skip
        step("bruno (release_champion) presses Approve",
             lambda: driver.click("U0BRUNO", CHANNEL, "Approve"))  # fmt: skip
        forward(2, "someone pages the on-call group")
        step("dmitri (in the @oncall user group) presses Approve",
             lambda: driver.click("U0DMITRI", CHANNEL, "Approve"))  # fmt: skip
        _wait_for(sb, "drill.scored")
        say("\n" + "=" * 78)
        say("What the channel shows (ephemeral replies marked as such):")
        say("=" * 78)
        say(sb.slack.transcript(CHANNEL, include_ephemeral=True))
        say("=" * 78)
        with read_connection(sb.runtime.engine) as connection:
            events = trail_for_subject(connection, subject=SUBJECT)
        console.print(trail_view(events, subject=SUBJECT))
        result = verify_trail(sb.runtime.engine)
    say(f"\ntrail verify: {'intact' if result.intact else 'BROKEN'}, {result.events} events")
    say(f"\nThe demo's database is kept at {database}. Explore it:\n"
        f"  export RELEASEBOT_DATABASE_URL={url}\n"
        f"  {program} trail export {SUBJECT} --format md")  # fmt: skip
    return 0 if result.intact else 1


def _wait_for(sandbox: Sandbox, kind: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        with read_connection(sandbox.runtime.engine) as connection:
            kinds = [e.kind for e in trail_for_subject(connection, subject=SUBJECT)]
        if kind in kinds:
            break
        if time.monotonic() > deadline:
            raise DrillDemoError(f"{kind} did not happen within {WAIT_S:.0f} s")
        time.sleep(0.05)
    sandbox.settle()

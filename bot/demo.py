"""``releasebot demo``: a readiness review played end to end against the local Slack emulator.

Several people take part through real signed requests (or, with ``--socket``, envelopes on
a Socket Mode connection): a release champion starts the review,
gate owners pass their gates, an outsider is refused, a gate is waived with a reason, the
requester's own approval is refused, and two approvers give the go. Then the channel is
printed as a person would read it, followed by the decision trail.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from bot.emulator import Delivery
from bot.emulator.visitor import Visitor
from bot.sandbox import Sandbox
from bot.store import export_subject, verify_trail

CHANNEL = "C0RANKREL"
SUBJECT = "release:ranking-model:v2.4.0"


def play(sandbox: Sandbox, say: Callable[[str], None]) -> None:
    """The scenario; ``say`` narrates each step."""
    driver = sandbox.driver

    def step(text: str, action: Callable[[], Delivery]) -> None:
        say(f"▶ {text}")
        answer = action()
        if answer.status != 200:
            raise RuntimeError(f"the bot answered {answer.status}: {answer.body}")
        sandbox.settle()

    step(
        "alice types /release start ranking-model v2.4.0 in #ranking-releases",
        lambda: driver.slash_command("U0ALICE", CHANNEL, "/release", "start ranking-model v2.4.0"),
    )
    root = sandbox.slack.messages(CHANNEL, replies=False)[-1]
    step(
        "chiara (ml_lead) presses Pass on the offline evaluation gate",
        lambda: driver.click("U0CHIARA", CHANNEL, "Pass", match="eval-metrics"),
    )
    step(
        "bruno, who is not ml_lead, presses Pass on the fairness audit (refused)",
        lambda: driver.click("U0BRUNO", CHANNEL, "Pass", match="bias-audit"),
    )
    step(
        "chiara presses Waive on the fairness audit",
        lambda: driver.click("U0CHIARA", CHANNEL, "Waive", match="bias-audit"),
    )
    step(
        "chiara gives her reason in the form",
        lambda: driver.submit_view(
            "U0CHIARA",
            values={
                "reason": "The exposure audit runs on Monday's snapshot; the candidate set is "
                "unchanged since the last audit."
            },
        ),
    )
    step(
        "dmitri asks a question in the thread",
        lambda: driver.message(
            "U0DMITRI",
            CHANNEL,
            "Canary p99 is 287 ms over the last hour; dashboard attached. Anyone seeing errors?",
            thread_ts=root.ts,
        ),
    )
    step(
        "dmitri (search_sre) passes the canary latency gate",
        lambda: driver.click("U0DMITRI", CHANNEL, "Pass", match="canary-latency"),
    )
    step(
        "elena (search_sre) passes the canary error gate",
        lambda: driver.click("U0ELENA", CHANNEL, "Pass", match="canary-errors"),
    )
    step(
        "alice, who started the release, presses Approve (separation of duties)",
        lambda: driver.click("U0ALICE", CHANNEL, "Approve"),
    )
    step(
        "bruno (release_champion) presses Approve",
        lambda: driver.click("U0BRUNO", CHANNEL, "Approve"),
    )
    step("chiara (ml_lead) presses Approve", lambda: driver.click("U0CHIARA", CHANNEL, "Approve"))


def run_demo(
    say: Callable[[str], None] = print,
    database_url: str | None = None,
    *,
    socket_mode: bool = False,
) -> int:
    with tempfile.TemporaryDirectory(prefix="releasebot-demo-") as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'demo.db'}"
        how = "over Socket Mode" if socket_mode else "over HTTP (signed requests)"
        say(
            "releasebot demo: a local Slack workspace (emulator), the bot, an embedded "
            f"SQLite database; no tokens needed. Slack reaches the bot {how}.\n"
        )
        with Sandbox.start(database_url=url, socket_mode=socket_mode) as sandbox:
            play(sandbox, say)
            say("\n" + "=" * 78)
            say("What the channel shows (ephemeral replies marked as such):")
            say("=" * 78)
            say(sandbox.slack.transcript(CHANNEL, include_ephemeral=True))
            say("=" * 78)
            say(export_subject(sandbox.runtime.engine, subject=SUBJECT, fmt="md"))
            result = verify_trail(sandbox.runtime.engine)
            say(
                f"\ntrail verify: {'intact' if result.intact else 'BROKEN'}, {result.events} events"
            )
            say(web_pages(sandbox))
            return 0 if result.intact else 1


def web_pages(sandbox: Sandbox) -> str:
    """The trail's web page, reached as a person does: Sign in with Slack (the emulator's)."""
    visitor = Visitor(sandbox.server.url)
    shown = visitor.sign_in("U0CHIARA")
    found = re.search(r'<span class="who">([^<]*)</span>', shown.body)
    name = html.unescape(found.group(1)) if found else "nobody (sign-in failed)"
    listed = json.loads(visitor.get("/trail?format=json").body)["subjects"]
    lines = [f"\nweb pages: GET /trail asked to sign in; signed in with Slack as {name}; it lists:"]
    lines += [f"  {s['subject']}  {s['status']}  ({s['events']} events)" for s in listed]
    return "\n".join(lines)

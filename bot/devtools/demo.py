"""``releasebot demo``: a readiness review and a rollback, end to end against the local Slack
emulator.

Several people take part through real signed requests (or, with ``--socket``, envelopes on a
Socket Mode connection), and monitoring through the bot's own webhook. The review: a release
champion starts it, gate owners pass their gates, an outsider is refused, a gate is waived
with a reason, the requester's own approval is refused, and two approvers give the go. The
rollback: monitoring reports an error-rate spike, the bot recommends the least disruptive
path, an outsider's approval is refused, two approvers approve, the path runs (a dry run in
the demo), monitoring reports the recovery, and the ML lead endorses it. Then the channel is
printed as a person would read it, followed by the decision trail, and the database is kept
for ``releasebot trail`` to explore.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.commands.terminal import make_console, trail_view
from bot.devtools.demo_runbooks import write_demo_runbooks
from bot.devtools.emulator import Delivery
from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox
from bot.store import read_connection, trail_for_subject, verify_trail
from bot.store.tables import TrailEventRow

CHANNEL = "C0RANKREL"
RELEASE = "release:ranking-model:v2.4.0"
WAIT_S = 20.0


class DemoError(RuntimeError):
    """A step of the demo did not have the effect it should (the message says which)."""


def play_review(sandbox: Sandbox, say: Callable[[str], None]) -> None:
    """The readiness review; ``say`` narrates each step."""
    driver = sandbox.driver
    step = _stepper(sandbox, say)
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


def play_rollback(sandbox: Sandbox, say: Callable[[str], None]) -> str:
    """From monitoring's samples to an endorsed rollback; returns the rollback's subject."""
    driver = sandbox.driver
    step = _stepper(sandbox, say)
    now = datetime.now(UTC)
    spike = [0.012, 0.031, 0.036, 0.041]  # one a minute, the last one now
    for minutes_ago, value in zip(range(len(spike) - 1, -1, -1), spike, strict=True):
        at = now - timedelta(minutes=minutes_ago)
        say(f"▶ monitoring posts error_rate = {value} at {at:%H:%M} to /hooks/metrics")
        sandbox.post_samples("ranking-model", [("error_rate", value, at)])
    sandbox.settle()
    subject = _wait_for_rollback(sandbox)
    step(
        "elena, who is neither oncall nor release_champion, presses Approve (refused)",
        lambda: driver.click("U0ELENA", CHANNEL, "Approve"),
    )
    step(
        "bruno (release_champion) presses Approve",
        lambda: driver.click("U0BRUNO", CHANNEL, "Approve"),
    )
    step(
        "dmitri (in the @oncall user group) presses Approve",
        lambda: driver.click("U0DMITRI", CHANNEL, "Approve"),
    )
    _wait_for(sandbox, subject, "rollback.executed", "the dry-run execution")
    recovered = [0.011, 0.009, 0.008]
    say(f"▶ monitoring posts error_rate = {', '.join(map(str, recovered))}: recovered")
    start = datetime.now(UTC)
    after = [start + timedelta(milliseconds=100 * i) for i in range(len(recovered))]
    sandbox.post_samples(
        "ranking-model", [("error_rate", v, at) for v, at in zip(recovered, after, strict=True)]
    )
    say("▶ the validation window ends (2 s in this demo, 20 min in the runbook)")
    _wait_for(sandbox, subject, "rollback.validated", "the validation")
    step(
        "chiara (ml_lead) presses Endorse for the restored state",
        lambda: driver.click("U0CHIARA", CHANNEL, "Endorse"),
    )
    return subject


def _stepper(sandbox: Sandbox, say: Callable[[str], None]) -> Callable[..., None]:
    def step(text: str, action: Callable[[], Delivery]) -> None:
        say(f"▶ {text}")
        answer = action()
        if answer.status != 200:
            raise DemoError(f"the bot answered {answer.status}: {answer.body}")
        sandbox.settle()

    return step


def _kinds(sandbox: Sandbox, subject: str) -> list[str]:
    with read_connection(sandbox.runtime.engine) as connection:
        return [event.kind for event in trail_for_subject(connection, subject=subject)]


def _wait_for(sandbox: Sandbox, subject: str, kind: str, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while kind not in _kinds(sandbox, subject):
        if time.monotonic() > deadline:
            raise DemoError(f"{what} did not happen within {WAIT_S:.0f} s")
        time.sleep(0.05)
    sandbox.settle()


def _wait_for_rollback(sandbox: Sandbox) -> str:
    query = (
        select(TrailEventRow.subject)  # type: ignore[call-overload]
        .where(TrailEventRow.kind == "rollback.recommended")
        .order_by(TrailEventRow.seq)
        .limit(1)
    )
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with read_connection(sandbox.runtime.engine) as connection:
            subject = connection.execute(query).scalar()
        if subject is not None:
            return str(subject)
        time.sleep(0.05)
    raise DemoError(f"no rollback was recommended within {WAIT_S:.0f} s")


def demo_database(keep: Path | None) -> Path:
    """Where the demo's database goes: ``keep`` (a new file), or a new temporary folder."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="releasebot-demo-")) / "demo.db"
    if keep.exists():
        raise DemoError(f"{keep} exists; the demo needs a new database: remove it or pick another")
    keep.parent.mkdir(parents=True, exist_ok=True)
    return keep.absolute()


def run_demo(
    say: Callable[[str], None] = print,
    *,
    keep: Path | None = None,
    socket_mode: bool = False,
    program: str = "releasebot",
) -> int:
    database = demo_database(keep)
    url = f"sqlite:///{database}"
    how = "over Socket Mode" if socket_mode else "over HTTP (signed requests)"
    say(
        "releasebot demo: a local Slack workspace (emulator), the bot, an embedded SQLite "
        f"database; no tokens needed. Slack reaches the bot {how}.\n"
    )
    console = make_console()
    with tempfile.TemporaryDirectory(prefix="releasebot-demo-runbooks-") as folder:
        runbooks = write_demo_runbooks(Path(folder))
        with Sandbox.start(database_url=url, runbooks_dir=runbooks, socket_mode=socket_mode) as sb:
            say("The readiness review of ranking-model v2.4.0:")
            play_review(sb, say)
            say("\nLater, the new model misbehaves in production:")
            rollback = play_rollback(sb, say)
            say("\n" + "=" * 78)
            say("What the channel shows (ephemeral replies marked as such):")
            say("=" * 78)
            say(sb.slack.transcript(CHANNEL, include_ephemeral=True))
            for subject in (RELEASE, rollback):
                say("=" * 78)
                with read_connection(sb.runtime.engine) as connection:
                    events = trail_for_subject(connection, subject=subject)
                console.print(trail_view(events, subject=subject))
            result = verify_trail(sb.runtime.engine)
            say(web_pages(sb))
    say(f"\ntrail verify: {'intact' if result.intact else 'BROKEN'}, {result.events} events")
    say(
        f"\nThe demo's database is kept at {database}. Explore it:\n"
        f"  export RELEASEBOT_DATABASE_URL={url}\n"
        f"  {program} trail verify\n"
        f"  {program} trail list\n"
        f"  {program} trail export {RELEASE}\n"
        f"  {program} trail export {rollback} --format md\n"
        f"  {program} trail export {rollback} --format json\n"
        f"  {program} journal\n"
        f"  {program} report\n"
        f"\nA game-day drill, played the same way: {program} demo --drill"
    )
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

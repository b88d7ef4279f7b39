"""Slack's rate limits hold up nothing else (issue 17, item 3), driven through the emulator
with its rate limits switched on. Slack and the bot share one clock that only the test moves,
so "while channel A is still limited" is a fact of the clock, not of timing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.devtools.emulator import ManualClock, RateLimits
from bot.devtools.sandbox import Sandbox
from bot.services.outbox.jobs import PostMessage
from bot.store.outbox import OutboxJob
from bot.store.transitions import table_of
from bot.store.unit_of_work import unit_of_work
from tests.slack.support import FRAUD, RANKING

JOBS = table_of(OutboxJob)


@dataclass
class Paced:
    sandbox: Sandbox
    clock: ManualClock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.sandbox.runtime.services.wake()

    def jobs(self, kind: str) -> list[OutboxJob]:
        with self.sandbox.runtime.engine.connect() as connection:
            rows = connection.execute(select(JOBS).where(JOBS.c.kind == kind).order_by(JOBS.c.id))
            return [OutboxJob.model_validate(dict(row._mapping)) for row in rows]

    def done(self, kind: str) -> list[OutboxJob]:
        """The jobs of ``kind`` once every one of them is done, else []."""
        jobs = self.jobs(kind)
        return jobs if all(job.state == "done" for job in jobs) else []

    def deferred(self, kind: str) -> list[OutboxJob]:
        """The jobs of ``kind`` waiting for a time after the present, once there are any."""
        return [
            j for j in self.jobs(kind) if j.state == "pending" and j.next_attempt_at > self.now()
        ]

    def posted(self, channel: str) -> list[str]:
        return [m.text for m in self.sandbox.slack.messages(channel)]


@pytest.fixture
def paced(database_url: str) -> Iterator[Paced]:
    clock = ManualClock(start=time.time())
    with Sandbox.start(
        database_url=database_url,
        clock=lambda: datetime.fromtimestamp(clock(), UTC),
        emulator_clock=clock,
        pace_slack=True,
    ) as sandbox:
        sandbox.slack.enable_rate_limits()
        yield Paced(sandbox, clock)


def test_a_429_on_one_channel_does_not_delay_another(paced: Paced) -> None:
    slack, driver = paced.sandbox.slack, paced.sandbox.driver
    slack.rate_limit("chat.postMessage", retry_after=30, channel=RANKING)
    assert (
        driver.slash_command("U0ALICE", RANKING, "/release", "start ranking-model v9").status == 200
    )
    slack.wait_for_calls("chat.postMessage", ok=False)
    started = time.monotonic()
    assert driver.slash_command("U0ALICE", FRAUD, "/release", "start fraud-model 7.1").status == 200
    slack.wait_for(lambda: paced.posted(FRAUD), timeout=10)
    delay = time.monotonic() - started
    # Channel B posted while channel A is still limited: A's checklist waits its 30 s...
    assert paced.posted(RANKING) == []
    ranking_job = paced.jobs("post_checklist")[0]
    assert ranking_job.state == "pending"
    assert ranking_job.attempts == 0  # a 429 is not a failed attempt
    assert abs((ranking_job.next_attempt_at - paced.now()).total_seconds() - 30) < 0.01
    # ... and is posted, once, when Slack's clock has moved past it
    paced.advance(29)
    time.sleep(0.5)  # the worker's poll: would it post early? (it must not)
    assert paced.posted(RANKING) == []
    paced.advance(1)
    slack.wait_for(lambda: paced.posted(RANKING), timeout=10)
    posts = slack.calls("chat.postMessage")
    order = [(c.args["channel"], c.status) for c in posts]
    assert order[:3] == [(RANKING, 429), (FRAUD, 200), (RANKING, 200)]
    assert len(paced.posted(RANKING)) == 1
    print(
        f"\na 429 (Retry-After 30 s) on {RANKING}: {FRAUD}'s checklist posted {delay:.2f} s "
        "after its command (wall time), while the first channel waited its 30 s"
    )


@pytest.mark.parametrize("slack_burst", [10, 3], ids=["bursts-alike", "slack-stricter"])
def test_a_burst_into_one_channel_is_paced_and_another_channel_flows(
    paced: Paced, slack_burst: int
) -> None:
    """Fourteen messages for one channel and one for another, at the same moment. The bot
    posts a burst of ten into the first (its own pacing), the other channel's at once, then
    one a second into the first as the clock moves, in order, each once. When Slack's burst
    is as large, Slack never answers 429; when it is smaller (3), its 429s defer only that
    channel's messages, which then follow at Slack's pace."""
    slack = paced.sandbox.slack
    slack.enable_rate_limits(RateLimits(post_message_burst=slack_burst))
    with unit_of_work(paced.sandbox.runtime.engine) as uow:
        uow.enqueue(PostMessage(channel_id=RANKING, text="ranking 1"), now=paced.now())
        uow.enqueue(PostMessage(channel_id=FRAUD, text="fraud 1"), now=paced.now())
        for n in range(2, 15):
            uow.enqueue(PostMessage(channel_id=RANKING, text=f"ranking {n}"), now=paced.now())
    paced.sandbox.runtime.services.wake()
    slack.wait_for(lambda: paced.posted(FRAUD), timeout=10)
    slack.wait_for(lambda: len(paced.posted(RANKING)) == min(slack_burst, 10), timeout=10)
    slack.wait_for(lambda: paced.deferred("post_message"), timeout=10)
    time.sleep(0.5)  # would more go out before the clock moves? (they must not)
    assert len(paced.posted(RANKING)) == min(slack_burst, 10)
    for _ in range(20):
        if len(paced.posted(RANKING)) == 14:
            break
        count = len(paced.posted(RANKING))
        paced.advance(1)
        slack.wait_for(lambda count=count: len(paced.posted(RANKING)) > count, timeout=10)
        slack.wait_for(lambda: paced.deferred("post_message") or paced.done("post_message"))
    assert paced.posted(RANKING) == [f"ranking {n}" for n in range(1, 15)]
    refused = [c.status for c in slack.calls("chat.postMessage")].count(429)
    assert refused == (0 if slack_burst == 10 else 1)  # after a 429, the bot waits it out
    jobs = slack.wait_for(lambda: paced.done("post_message"))
    assert [job.attempts for job in jobs] == [1] * 15  # deferrals are not failed attempts


def test_a_rate_limited_reason_form_is_never_queued_past_its_trigger(paced: Paced) -> None:
    """views.open limited for 30 s: the trigger (3 s) would be dead by then, so the person is
    told at once instead; limited for 1 s, the form opens once the second has passed."""
    slack, driver = paced.sandbox.slack, paced.sandbox.driver
    assert (
        driver.slash_command("U0ALICE", RANKING, "/release", "start ranking-model v9").status == 200
    )
    slack.wait_for(lambda: paced.posted(RANKING), timeout=10)
    slack.rate_limit("views.open", retry_after=30)
    assert driver.click("U0CHIARA", RANKING, "Waive", match="bias-audit").status == 200
    told = slack.wait_for(
        lambda: [
            e for e in slack.ephemerals(user="U0CHIARA") if "could not open the form" in e.text
        ],
        timeout=10,
    )
    assert len(told) == 1 and slack.views("U0CHIARA") == []
    [form] = paced.jobs("open_view")
    assert form.state == "done"  # answered, not waiting 30 s for a trigger that dies in 3
    assert [c.status for c in slack.calls("views.open")] == [429]

    # Past those 30 s, a limit of 1 s: the form waits that second, inside the trigger's life
    paced.advance(30)
    slack.rate_limit("views.open", retry_after=1)
    assert driver.click("U0CHIARA", RANKING, "Waive", match="bias-audit").status == 200
    slack.wait_for(lambda: paced.deferred("open_view"), timeout=10)  # by the 429's 1 s
    paced.advance(1)
    slack.wait_for(lambda: slack.views("U0CHIARA"), timeout=10)
    assert [c.status for c in slack.calls("views.open")] == [429, 429, 200]
    assert len([e for e in slack.ephemerals(user="U0CHIARA") if "could not open" in e.text]) == 1

"""kill -9 of `releasebot serve` between Slack's answer to chat.postMessage and the commit that
records it: after a restart the message is in the channel once, recorded, and the job the
dead process held taken back by the restarted one at once (same host), not after its lease.
Slack takes the post and holds its answer (``answer_late``), so the process dies with the
post made and not recorded, whatever its timing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.devtools.emulator import SlackDriver, SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.store import make_engine, read_connection, trail_for_subject
from bot.store.outbox import LEASE, OutboxJob
from bot.store.transitions import table_of
from tests.slack.processes import free_port, serve, stop
from tests.slack.support import RANKING, RUNBOOKS

JOBS = table_of(OutboxJob)
ROUNDS = 3


@dataclass
class Served:
    slack: SlackEmulator
    env: dict[str, str]
    logs: Path
    engine: Engine
    process: Popen[bytes] | None = None
    driver: SlackDriver | None = None
    starts: int = 0

    def start(self) -> float:
        """Start a serve process; returns when it answered /healthz (monotonic)."""
        port = free_port()
        self.process = serve(self.env, port, self.logs / f"serve-{self.starts}.log")
        self.starts += 1
        self.driver = self.slack.driver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET)
        return time.monotonic()

    def kill(self) -> float:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        self.process.wait(10)
        self.process = None
        return killed

    def checklist_job(self, version: str) -> Any:
        with read_connection(self.engine) as connection:
            for row in connection.execute(select(JOBS).where(JOBS.c.kind == "post_checklist")):
                if self.review_version(int(row.payload["review_id"])) == version:
                    return row
        return None

    def review_version(self, review_id: int) -> str:
        with read_connection(self.engine) as connection:
            return str(
                connection.exec_driver_sql(
                    "SELECT r.version FROM readiness_reviews v JOIN releases r"
                    f" ON r.id = v.release_id WHERE v.id = {review_id}"
                ).scalar_one()
            )


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    slack = SlackEmulator(default_seed()).start()
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_RUNBOOKS": str(RUNBOOKS),
        "RELEASEBOT_TEMPLATES": str(Path(__file__).resolve().parents[2] / "templates"),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    engine = make_engine(database_url)
    running = Served(slack, env, tmp_path, engine)
    try:
        yield running
    finally:
        if running.process is not None:
            stop(running.process)
        engine.dispose()
        slack.stop()


def wait_until(condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_a_post_made_before_a_kill_is_in_the_channel_once_after_restart(
    served: Served,
) -> None:
    served.start()
    figures = []
    for n in range(ROUNDS):
        version = f"v5.{n}.0"
        late = served.slack.answer_late("chat.postMessage", channel=RANKING)
        assert served.driver is not None
        answer = served.driver.slash_command(
            "U0ALICE", RANKING, "/release", f"start ranking-model {version}"
        )
        assert answer.status == 200, answer.body
        assert late.applied.wait(15), "the checklist was not posted"
        killed = served.kill()  # Slack has the post; the process never hears of it
        late.release()
        held = served.checklist_job(version)
        assert held.state == "running" and held.claimed_by is not None
        restarted = served.start()
        done = wait_until(
            lambda v=version: (
                (row := served.checklist_job(v)) is not None and row.state == "done" and row
            ),
            timeout=LEASE.total_seconds() + 30,
        )
        recorded = time.monotonic()
        checklists = [m for m in served.slack.messages(RANKING, replies=False) if version in m.text]
        assert len(checklists) == 1, [m.text[:60] for m in checklists]
        with read_connection(served.engine) as connection:
            events = trail_for_subject(connection, subject=f"release:ranking-model:{version}")
        [posted] = [e for e in events if e.kind == "slack.message_posted"]
        assert posted.message_ts == checklists[0].ts
        assert posted.payload["found_after_retry"] is True and done.attempts == 2
        # taken back by the restarted process before the dead one's lease had run out
        assert done.claimed_by != held.claimed_by and done.finished_at < held.lease_until
        figures.append((recorded - killed, recorded - restarted))
    posts = [m for m in served.slack.messages(RANKING, replies=False) if "v5." in m.text]
    doubled = len(posts) - ROUNDS
    assert doubled == 0
    print(
        f"\n{ROUNDS} kills between Slack's answer and the record: posts doubled {doubled}; "
        "recorded after the kill / after the restart answered: "
        + ", ".join(f"{a:.1f}/{b:.1f} s" for a, b in figures)
        + f" (lease {LEASE.total_seconds():.0f} s; a restart takes its predecessor's jobs back)"
    )

"""Three `releasebot serve` processes on one PostgreSQL database: each due timer runs once,
each reminder slot once, and a timer whose replica is killed mid-handler is taken over by
another replica once its lease runs out. Runs are counted in the trail and the timers'
rows, never in logs."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot.devtools.emulator import SlackDriver, SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.scheduler.handlers import EXPIRY_SWEEP, REQUEST_EXPIRE, REVIEW_REMIND, TIMERS_PRUNE
from bot.store import make_engine, read_connection, trail_for_subject
from bot.store.timers import LEASE, TimerRow, timers_of
from tests.slack.processes import free_port, serve, stop
from tests.slack.support import RANKING, RANKING_GATES, copy_runbooks

pytestmark = pytest.mark.postgres
REPLICAS = 3


@dataclass
class Replicas:
    slack: SlackEmulator
    processes: list[Popen[bytes]]
    drivers: list[SlackDriver]
    engine: Engine

    def trail_kinds(self, version: str) -> list[str]:
        with read_connection(self.engine) as connection:
            events = trail_for_subject(connection, subject=f"release:ranking-model:{version}")
        return [event.kind for event in events]

    def timers(self, kind: str, key: str | None = None) -> list[TimerRow]:
        with read_connection(self.engine) as connection:
            return timers_of(connection, kind=kind, key=key)

    def start_review(self, version: str, n: int) -> str:
        """Start ``version``'s review through replica ``n``; the checklist's ts."""
        answer = self.drivers[n % REPLICAS].slash_command(
            "U0ALICE", RANKING, "/release", f"start ranking-model {version}"
        )
        assert answer.status == 200, answer.body

        def checklist() -> str | None:
            for message in self.slack.messages(RANKING, replies=False):
                if version in message.text:
                    return message.ts
            return None

        ts: str = self.slack.wait_for(checklist, timeout=15)
        return ts

    def pass_gates(self, ts: str, gates: slice = slice(None)) -> None:
        """Each gate's owner passes it, through the replicas in turn."""
        for n, (gate, user) in enumerate(RANKING_GATES[gates]):
            answer = self.drivers[n % REPLICAS].click(user, RANKING, "Pass", ts, match=gate)
            assert answer.status == 200, answer.body


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[Replicas]:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    runbooks = copy_runbooks(
        tmp_path, {"ranking-model.yaml": ("    expires_after: 4h", "    expires_after: 3s")}
    )
    ranking = runbooks / "ranking-model.yaml"
    ranking.write_text(ranking.read_text().replace("  remind_every: 1h", "  remind_every: 1s"))
    slack = SlackEmulator(default_seed()).start()
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_RUNBOOKS": str(runbooks),
        "RELEASEBOT_TEMPLATES": str(Path(__file__).resolve().parents[2] / "templates"),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    processes: list[Popen[bytes]] = []
    drivers = []
    engine = make_engine(database_url)
    try:
        for n in range(REPLICAS):  # one after the other: the first one migrates
            port = free_port()
            processes.append(serve(env, port, tmp_path / f"serve-{n}.log"))
            drivers.append(slack.driver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET))
        yield Replicas(slack, processes, drivers, engine)
    finally:
        for process in processes:
            stop(process)
        engine.dispose()
        slack.stop()


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_three_replicas_run_each_due_timer_once_and_each_reminder_slot_once(
    replicas: Replicas,
) -> None:
    versions = ["v3.0.0", "v3.1.0", "v3.2.0"]
    checklists = [replicas.start_review(version, n) for n, version in enumerate(versions)]
    for ts in checklists:
        replicas.pass_gates(ts, slice(0, 3))
    for version in versions:  # the open gate's owner is reminded every second
        wait_until(lambda v=version: replicas.trail_kinds(v).count("review.reminded") >= 3)
    for ts in checklists:  # the last gate: no more reminders, and a go/no-go that expires
        replicas.pass_gates(ts, slice(3, 4))
    for version in versions:
        wait_until(lambda v=version: "go_no_go.expired" in replicas.trail_kinds(v))
    time.sleep(2)  # would anything run twice? give it the chance

    claims: Counter[str | None] = Counter()
    for n, version in enumerate(versions, start=1):
        kinds = replicas.trail_kinds(version)
        assert kinds.count("go_no_go.expired") == 1
        [expiry] = replicas.timers(REQUEST_EXPIRE, f"request:{n}")
        assert (expiry.state, expiry.attempts) == ("done", 1)
        reminders = replicas.timers(REVIEW_REMIND, f"review:{n}")
        done = [timer for timer in reminders if timer.state == "done"]
        # One reminder per slot run, whichever replica ran it: the slot run last may have
        # found every gate marked (and cancelled the next), but none reminded twice.
        assert len(done) - 1 <= kinds.count("review.reminded") <= len(done)
        assert {timer.state for timer in reminders} <= {"done", "cancelled"}
        claims.update(timer.claimed_by for timer in [expiry, *done])
    for kind in (EXPIRY_SWEEP, TIMERS_PRUNE):  # planned by all three at start-up, stored once
        assert len([t for t in replicas.timers(kind) if t.state == "pending"]) == 1
    print(f"\ntimers run, by replica: {dict(claims)}")


def test_a_timer_whose_replica_is_killed_mid_handler_is_taken_over_once(
    replicas: Replicas,
) -> None:
    replicas.pass_gates(replicas.start_review("v4.0.0", 0))  # its go/no-go, request 1
    with replicas.engine.connect() as blocker:
        # Hold the request's row: the replica that claims its expiry blocks in the handler.
        blocker.execute(text("SELECT id FROM approval_requests WHERE id = 1 FOR UPDATE"))

        def claimed() -> TimerRow | None:
            [timer] = replicas.timers(REQUEST_EXPIRE, "request:1")
            return timer if timer.state == "running" else None

        first = wait_until(claimed)
        pid = int(str(first.claimed_by).split(":")[1])
        [holder] = [p for p in replicas.processes if p.pid == pid]
        os.kill(pid, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        holder.wait(10)
        blocker.rollback()

    def taken_over() -> TimerRow | None:
        [timer] = replicas.timers(REQUEST_EXPIRE, "request:1")
        return timer if timer.state == "done" else None

    timer = wait_until(taken_over, timeout=LEASE.total_seconds() + 30)
    wait_until(lambda: "go_no_go.expired" in replicas.trail_kinds("v4.0.0"))
    time.sleep(2)  # would it expire twice? give it the chance
    assert replicas.trail_kinds("v4.0.0").count("go_no_go.expired") == 1
    assert timer.attempts == 2 and timer.claimed_by != first.claimed_by
    assert timer.started_at is not None
    failover = (timer.started_at - killed_at).total_seconds()
    print(
        f"\nkill -9 of {first.claimed_by} while it ran the expiry; taken over by "
        f"{timer.claimed_by} {failover:.1f} s later (lease {LEASE.total_seconds():.0f} s)"
    )

"""Rollbacks' time-driven work on several `releasebot serve` processes sharing one PostgreSQL
database, driven as in production (signed HTTP from the Slack emulator, samples on the hook,
a test-owned executor receiver): an escalation, an expiry, an automatic execution after its
veto window and the end of a validation window each happen once, counted in the channel, the
trail and the receiver; and when the replica running the auto-execution is killed (kill -9),
another executes it exactly once, one lease later."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot.devtools.emulator import SlackDriver, SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.scheduler.handlers import REQUEST_AUTO_EXECUTE
from bot.store import make_engine, read_connection
from bot.store.timers import LEASE, TimerRow, timers_of
from tests.slack.processes import free_port, serve, stop
from tests.slack.rollback_support import Receiver, alert, samples
from tests.slack.support import RANKING, copy_runbooks

pytestmark = pytest.mark.postgres
RERANKER = "Turn off the neural re-ranker feature flag"
AUTO_WINDOW = (
    '      window: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00", '
    "timezone: Europe/Berlin}\n      veto_window: 5m"
)
FLAGS = """      url: https://flags.internal.example/api/flags/ranking-reranker
      payload: {enabled: false}
      secret_env: RELEASEBOT_FLAGS_SECRET"""


@dataclass
class Replicas:
    slack: SlackEmulator
    processes: list[Popen[bytes]]
    ports: list[int]
    drivers: list[SlackDriver]
    engine: Engine

    def post(self, n: int, hook: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports[n]}/hooks/{hook}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def kinds(self) -> list[str]:
        with read_connection(self.engine) as connection:
            rows = connection.execute(text("SELECT kind FROM trail_events ORDER BY seq"))
            return [str(row[0]) for row in rows]

    def timers(self, kind: str) -> list[TimerRow]:
        with read_connection(self.engine) as connection:
            return timers_of(connection, kind=kind)

    def channel(self) -> list[str]:
        return [message.text for message in self.slack.messages(RANKING)]


def runbooks_for(tmp_path: Path, receiver: Receiver, veto: str) -> Path:
    """ranking-model: previous-model escalates after 1 s and expires after 3 s;
    disable-reranker runs automatically after ``veto`` (any day, any hour), through
    ``receiver``, and is validated 1 s later."""
    folder = copy_runbooks(
        tmp_path, {"ranking-model.yaml": (AUTO_WINDOW, f"      veto_window: {veto}")}
    )
    ranking = folder / "ranking-model.yaml"
    text_ = ranking.read_text()
    for old, new in (
        ("      expires_after: 20m\n      escalate_to: [ml_lead]",
         "      expires_after: 3s\n      escalate_to: [ml_lead]\n      escalate_after: 1s"),
        (FLAGS, f"      url: {receiver.url}\n      payload: {{enabled: false}}"),
        ("validation: {metric: p99_latency_ms, window: 15m",
         "validation: {metric: p99_latency_ms, window: 1s"),
    ):  # fmt: skip
        assert old in text_, old
        text_ = text_.replace(old, new)
    ranking.write_text(text_)
    return folder


@contextmanager
def replicas_on(
    database_url: str, tmp_path: Path, runbooks: Path, count: int
) -> Iterator[Replicas]:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
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
    ports: list[int] = []
    drivers = []
    engine = make_engine(database_url)
    try:
        for n in range(count):  # one after the other: the first one migrates
            ports.append(free_port())
            processes.append(serve(env, ports[-1], tmp_path / f"serve-{n}.log"))
            url = f"http://127.0.0.1:{ports[-1]}/slack/events"
            drivers.append(slack.driver(url, SIGNING_SECRET))
        yield Replicas(slack, processes, ports, drivers, engine)
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
        engine.dispose()
        slack.stop()


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def latency_breach() -> dict[str, Any]:
    return samples("p99_latency_ms", [340, 350, 360, 370, 380, 390], timedelta(minutes=1))


def test_escalation_expiry_auto_execution_and_validation_happen_once_on_three_replicas(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    runbooks = runbooks_for(tmp_path, receiver, veto="2s")
    with replicas_on(database_url, tmp_path, runbooks, 3) as replicas:
        # rollback 1: an error-rate breach nobody decides: escalated after 1 s, expired at 3 s
        for n, value in enumerate((0.031, 0.036, 0.041)):
            replicas.post(n, "alertmanager", alert(value))
        wait_until(lambda: "rollback.expired" in replicas.kinds())
        # the errors clear; rollback 2: a latency breach, pre-approved with a 2 s veto window
        replicas.post(1, "metrics", samples("error_rate", [0.010, 0.009, 0.008],
                                            timedelta(milliseconds=10)))  # fmt: skip
        replicas.post(2, "metrics", latency_breach())
        wait_until(lambda: "rollback.validated" in replicas.kinds())
        time.sleep(3)  # would anything happen twice? give every replica the chance

        kinds = replicas.kinds()
        done = {kind: kinds.count(kind) for kind in (
            "approval.escalated", "rollback.expired", "rollback.approved", "rollback.executed",
            "rollback.validated",
        )}  # fmt: skip
        channel = replicas.channel()
        seen = {
            "escalations": sum("still waiting for a decision" in t for t in channel),
            "expiries": sum(t.endswith(": expired") for t in channel),
            "executions": sum(t.split(" ", 1)[-1].startswith(f"{RERANKER}:") for t in channel),
            "validations": sum(f"after {RERANKER}" in t for t in channel),
        }
        print(f"\n3 replicas: trail {done}; channel {seen}; receiver {len(receiver.calls)} call(s)")
        assert done == dict.fromkeys(done, 1)
        assert seen == dict.fromkeys(seen, 1)
        assert len(receiver.calls) == 1
        claimed_by = {
            t.claimed_by for kind in (REQUEST_AUTO_EXECUTE,) for t in replicas.timers(kind)
        }
        assert len(claimed_by) == 1


def test_killing_the_replica_running_the_auto_execution_runs_it_once_elsewhere(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    runbooks = runbooks_for(tmp_path, receiver, veto="3s")
    with replicas_on(database_url, tmp_path, runbooks, 2) as replicas:
        with replicas.engine.connect() as blocker:
            replicas.post(0, "metrics", latency_breach())
            wait_until(lambda: "rollback.recommended" in replicas.kinds())
            # Hold the request's row: the replica that claims the auto-execution blocks in it.
            blocker.execute(text("SELECT id FROM approval_requests WHERE id = 1 FOR UPDATE"))

            def claimed() -> TimerRow | None:
                [timer] = replicas.timers(REQUEST_AUTO_EXECUTE)
                return timer if timer.state == "running" else None

            first = wait_until(claimed)
            pid = int(str(first.claimed_by).split(":")[1])
            [holder] = [p for p in replicas.processes if p.pid == pid]
            os.kill(pid, signal.SIGKILL)
            killed, killed_at = time.monotonic(), datetime.now(UTC)
            holder.wait(10)
            blocker.rollback()

        wait_until(lambda: receiver.calls, timeout=LEASE.total_seconds() + 30)
        executed_after = time.monotonic() - killed
        wait_until(lambda: "rollback.executed" in replicas.kinds())
        time.sleep(3)  # would it run twice? give the survivor the chance
        [timer] = replicas.timers(REQUEST_AUTO_EXECUTE)
        kinds = replicas.kinds()
        assert len(receiver.calls) == 1
        assert kinds.count("rollback.approved") == 1 and kinds.count("rollback.executed") == 1
        assert (timer.state, timer.attempts) == ("done", 2)
        assert timer.claimed_by != first.claimed_by
        print(
            f"\nkill -9 of {first.claimed_by} at {killed_at:%H:%M:%S} in the auto-execution; "
            f"executed by {timer.claimed_by} {executed_after:.1f} s later, once "
            f"(lease {LEASE.total_seconds():.0f} s)"
        )
        assert executed_after <= LEASE.total_seconds() + 10

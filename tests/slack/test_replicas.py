"""Two `releasebot serve` processes on one PostgreSQL database, behind one Slack: clicks spread
across both decide once and execute once."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.emulator import SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.store import make_engine, read_connection, trail_for_subject
from tests.slack.processes import free_port, serve, stop
from tests.slack.support import RANKING
from tests.slack.test_rollback import Receiver, rollback_runbooks, samples

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[SlackEmulator, list[str], Receiver, str]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    receiver = Receiver()
    slack = SlackEmulator(default_seed()).start()
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_RUNBOOKS": str(rollback_runbooks(tmp_path, receiver)),
        "RELEASEBOT_TEMPLATES": str(Path(__file__).resolve().parents[2] / "templates"),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    processes = []
    urls = []
    try:
        for name in ("a", "b"):  # one after the other: the first one migrates
            port = free_port()
            processes.append(serve(env, port, tmp_path / f"serve-{name}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        yield slack, urls, receiver, database_url
    finally:
        for process in processes:
            stop(process)
        slack.stop()
        receiver.close()


def test_two_replicas_decide_once_and_execute_once(replicas: tuple[Any, ...]) -> None:
    slack, urls, receiver, database_url = replicas
    body = samples("error_rate", [0.03, 0.04, 0.05], timedelta(minutes=1))
    request = urllib.request.Request(
        f"{urls[0]}/hooks/metrics",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 202
    slack.wait_for(lambda: slack.latest_message(RANKING) is not None, timeout=10)
    drivers = [slack.driver(f"{url}/slack/events", SIGNING_SECRET) for url in urls]
    ts = drivers[0].find_button(RANKING, "Approve").message.ts
    clicks = [(driver, user) for user in ("U0BRUNO", "U0DMITRI") for driver in drivers] * 2
    with ThreadPoolExecutor(len(clicks)) as pool:
        statuses = list(
            pool.map(lambda click: click[0].click(click[1], RANKING, "Approve", ts).status, clicks)
        )
    assert statuses == [200] * len(clicks)

    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with read_connection(engine) as connection:
                kinds = [e.kind for e in trail_for_subject(connection, subject="rollback:1")]
            if "rollback.executed" in kinds:
                break
            time.sleep(0.1)
        time.sleep(1)  # would a second execution follow? give it the chance
        with read_connection(engine) as connection:
            events = trail_for_subject(connection, subject="rollback:1")
            kinds = [e.kind for e in events]
    finally:
        engine.dispose()
    assert kinds.count("approval.approve") == 2
    assert kinds.count("rollback.approved") == 1
    assert kinds.count("rollback.executed") == 1
    assert len(receiver.calls) == 1
    roots = slack.messages(RANKING, replies=False)
    assert len(roots) == 1
